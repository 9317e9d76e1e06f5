"""Airflow's ``SkipMixin``: what branching operators use to skip tasks; lithoflow's engine
skips the branches, so the methods record nothing at parse time."""


class SkipMixin:
    def skip(self, dag_run, execution_date, tasks, map_index=-1, **kwargs):
        pass

    def skip_all_except(self, ti, branch_task_ids):
        pass
