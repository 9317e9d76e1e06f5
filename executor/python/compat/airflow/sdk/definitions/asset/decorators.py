"""Airflow 3's ``@asset`` (airflow/sdk/definitions/asset/decorators.py): a one-task DAG named
after the function whose task (same name) materializes the asset (its outlet).
``@asset.multi(outlets=[...])`` makes one task with several outlets."""

import inspect

from airflow.datasets import Asset, AssetRef, BaseAsset
from airflow.operators.python import PythonOperator


class _AssetMainOperator(PythonOperator):
    """The task of an ``@asset`` DAG: its callable gets the assets of its parameters."""

    custom_operator_name = "@asset"

    def __init__(self, *, definition_name, **kwargs):
        super().__init__(**kwargs)
        self._definition_name = definition_name

    @classmethod
    def from_definition(cls, definition):
        function = definition._function
        return cls(
            task_id=function.__name__,
            inlets=[
                AssetRef(name=inlet_asset_name)
                for inlet_asset_name, param in inspect.signature(function).parameters.items()
                if inlet_asset_name not in ("self", "context") and param.default is inspect.Parameter.empty
            ],
            outlets=list(definition._outlets()),
            python_callable=function,
            definition_name=definition.name,
        )


def _instantiate_task(definition):
    decorated_operator = definition._function
    if getattr(decorated_operator, "_airflow_is_task_decorator", False):
        if "outlets" in decorated_operator.kwargs:
            raise TypeError("@task decorator with 'outlets' argument is not supported in @asset")
        decorated_operator.kwargs["outlets"] = list(definition._outlets())
        decorated_operator()
    else:
        _AssetMainOperator.from_definition(definition)


_DAG_ARGS = ("schedule", "is_paused_upon_creation", "dag_id", "dag_display_name", "description", "params",
             "on_success_callback", "on_failure_callback", "access_control", "owner_links", "tags")


class _DAGFactory:
    def __init__(self, *, schedule, is_paused_upon_creation=None, dag_id=None, dag_display_name=None,
                 description=None, params=None, on_success_callback=None, on_failure_callback=None,
                 access_control=None, owner_links=None, tags=None):
        self.schedule = schedule
        self.is_paused_upon_creation = is_paused_upon_creation
        self.dag_id = dag_id
        self.dag_display_name = dag_display_name
        self.description = description
        self.params = params
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.access_control = access_control
        self.owner_links = owner_links or {}
        self.tags = tags or set()

    def create_dag(self, *, default_dag_id):
        from airflow.models.dag import DAG

        dag_id = self.dag_id or default_dag_id
        return DAG(
            dag_id=dag_id,
            schedule=self.schedule,
            is_paused_upon_creation=self.is_paused_upon_creation,
            catchup=False,
            dag_display_name=self.dag_display_name or dag_id,
            description=self.description,
            params=self.params,
            on_success_callback=self.on_success_callback,
            on_failure_callback=self.on_failure_callback,
            access_control=self.access_control,
            owner_links=self.owner_links,
            tags=self.tags,
            auto_register=True,
        )


class AssetDefinition(Asset):
    """Asset representation from decorating a function with ``@asset``."""

    def __init__(self, *, name, uri, group, extra, function, source):
        super().__init__(name=name, uri=uri, group=group, extra=extra)
        self._function = function
        self._source = source
        with self._source.create_dag(default_dag_id=self.name):
            _instantiate_task(self)

    def _outlets(self):
        return [Asset(name=self.name, uri=self.uri, group=self.group, extra=self.extra)]


class MultiAssetDefinition(BaseAsset):
    def __init__(self, *, function, source, name):
        self.name = name
        self._function = function
        self._source = source
        with self._source.create_dag(default_dag_id=self._function.__name__):
            _instantiate_task(self)

    def _outlets(self):
        return list(self._source.outlets)

    def iter_assets(self):
        for o in self._source.outlets:
            yield from o.iter_assets()


class asset(_DAGFactory):  # noqa: N801 (Airflow's name)
    """Create an asset by decorating a materialization function."""

    def __init__(self, *, name=None, uri=None, group="asset", extra=None, watchers=None, **dag_kwargs):
        super().__init__(**dag_kwargs)
        self.name = name
        self.uri = uri
        self.group = group
        self.extra = extra or {}
        self.watchers = watchers or []

    class multi(_DAGFactory):  # noqa: N801
        """Create a one-task Dag that emits multiple assets."""

        def __init__(self, *, outlets, **dag_kwargs):
            super().__init__(**dag_kwargs)
            self.outlets = outlets

        def __call__(self, f):
            if f.__name__ != f.__qualname__:
                raise ValueError("nested function not supported")
            if not self.outlets:
                raise ValueError("no outlets provided")
            return MultiAssetDefinition(function=f, source=self, name=f.__name__)

    def __call__(self, f):
        if f.__name__ != f.__qualname__:
            raise ValueError("nested function not supported")
        name = self.name or f.__name__
        return AssetDefinition(
            name=name,
            uri=name if self.uri is None else str(self.uri),
            group=self.group,
            extra=self.extra,
            function=f,
            source=self,
        )
