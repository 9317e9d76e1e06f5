"""The Lithops plugin's hook. lithoflow's executor takes its place: the plugin's
operators run as lithoflow's own tasks, so a DAG file only needs the name to import."""

from airflow.hooks.base import BaseHook


class LithopsHook(BaseHook):
    """The plugin's hook: building it works; using it says what runs instead."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.args, self.kwargs = args, kwargs

    def get_conn(self, *args, **kwargs):
        raise NotImplementedError(
            "LithopsHook is not used by lithoflow: the Lithops operators run on lithoflow's executor "
            "(call_async, map, map_reduce), configured by [lithops_config]"
        )


__all__ = ["LithopsHook"]
