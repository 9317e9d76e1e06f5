"""The Lithops Airflow plugin's operators (lithops-cloud/airflow-plugin; before it the
Cloudbutton toolkit's plugin), run by lithoflow as its native ``call_async``, ``map`` and
``map_reduce``.

Every parameter of the plugin's README and of both versions of its code is accepted:

- common: ``lithops_config`` (``config``; Cloudbutton: ``cloudbutton_engine_config``; the
  IBM PyWren plugin before them: ``pywren_executor_config``),
  ``async_invoke`` (Cloudbutton: ``wait_for_result`` = not async), ``get_result``
  (Cloudbutton: ``fetch_result``), ``clean_data``, ``extra_env``, ``runtime_memory``,
  ``timeout``, ``include_modules``, ``exclude_modules``, and the newer plugin's executor
  settings ``type``, ``backend``, ``storage``, ``runtime``, ``rabbitmq_monitor``,
  ``workers``, ``remote_invoker``;
- call_async: ``func``, ``data`` (default ``{}``), ``data_from_task`` ({kwarg: task_id});
- map: ``map_function``, ``map_iterdata``, ``iterdata_from_task`` (the README's
  ``iterdata_form_task`` too), ``extra_args`` (the README's ``extra_params``),
  ``chunk_size``, ``chunk_n``, ``remote_invocation``, ``invoke_pool_threads`` (500);
- map_reduce: those of map, ``reduce_function``, ``map_runtime_memory``,
  ``reduce_runtime_memory``, ``reducer_one_per_object``, ``reducer_wait_local``.

As in the plugin, ``map``/``map_reduce`` need ``map_iterdata`` or ``iterdata_from_task``
(``AirflowException('At least map_iterdata or iterdata_from_task must be set')``)."""

from airflow.exceptions import AirflowException
from airflow.models.baseoperator import BaseOperator


class LithopsOperator(BaseOperator):
    """The plugin's base operator: the settings every Lithops operator shares."""

    ui_color = "#c4daff"
    _lithoflow_base_kind = "custom"

    def __init__(
        self,
        *,
        lithops_config=None,
        config=None,
        cloudbutton_engine_config=None,
        pywren_executor_config=None,
        type=None,  # noqa: A002 (the plugin's name)
        backend=None,
        storage=None,
        runtime=None,
        runtime_memory=None,
        rabbitmq_monitor=None,
        workers=None,
        remote_invoker=None,
        async_invoke=False,
        wait_for_result=None,
        get_result=True,
        fetch_result=None,
        clean_data=False,
        extra_env=None,
        timeout=None,
        include_modules=None,
        exclude_modules=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if lithops_config is None:
            for other in (config, cloudbutton_engine_config, pywren_executor_config):
                if other is not None:
                    lithops_config = other
                    break
        self.lithops_config = lithops_config if lithops_config is not None else {}
        self.config = self.lithops_config
        self.cloudbutton_engine_config = self.lithops_config
        self.pywren_executor_config = self.lithops_config
        if wait_for_result is not None:
            async_invoke = not wait_for_result
        self.async_invoke = async_invoke
        self.wait_for_result = not async_invoke
        if fetch_result is not None:
            get_result = fetch_result
        self.get_result = get_result
        self.fetch_result = get_result
        self.clean_data = clean_data
        self.extra_env = extra_env
        self.runtime_memory = runtime_memory
        self.timeout = timeout
        self.include_modules = include_modules if include_modules is not None else []
        self.exclude_modules = exclude_modules if exclude_modules is not None else []
        self._executor_params = {
            "type": type,
            "config": lithops_config,
            "backend": backend,
            "storage": storage,
            "runtime": runtime,
            "runtime_memory": runtime_memory,
            "rabbitmq_monitor": rabbitmq_monitor,
            "workers": workers,
            "remote_invoker": remote_invoker,
        }

    def execute_callable(self, context):
        raise NotImplementedError()


class LithopsCallAsyncOperator(LithopsOperator):
    """Invokes a single function: ``func(**data)`` (``data_from_task`` adds upstream results)."""

    _lithoflow_base_kind = "call_async"

    def __init__(self, *, func, data=None, data_from_task=None, **kwargs):
        super().__init__(**kwargs)
        self.func = func
        self.data = data if data is not None else {}
        self.data_from_task = data_from_task if data_from_task is not None else {}


class LithopsMapOperator(LithopsOperator):
    """Invokes ``map_function`` once per element of ``map_iterdata``."""

    _lithoflow_base_kind = "map"

    def __init__(
        self,
        *,
        map_function,
        map_iterdata=None,
        iterdata_from_task=None,
        iterdata_form_task=None,
        extra_args=None,
        extra_params=None,
        chunk_size=None,
        chunk_n=None,
        remote_invocation=False,
        invoke_pool_threads=500,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if iterdata_from_task is None:
            iterdata_from_task = iterdata_form_task
        if map_iterdata is None and iterdata_from_task is None:
            raise AirflowException("At least map_iterdata or iterdata_from_task must be set")
        self.map_function = map_function
        self.map_iterdata = map_iterdata
        self.iterdata_from_task = iterdata_from_task
        self.extra_args = extra_args if extra_args is not None else extra_params
        self.extra_params = self.extra_args
        self.chunk_size = chunk_size
        self.chunk_n = chunk_n
        self.remote_invocation = remote_invocation
        self.invoke_pool_threads = invoke_pool_threads


class LithopsMapReduceOperator(LithopsOperator):
    """``map_function`` over ``map_iterdata``, then one ``reduce_function`` over the results."""

    _lithoflow_base_kind = "map_reduce"

    def __init__(
        self,
        *,
        map_function,
        reduce_function,
        map_iterdata=None,
        iterdata_from_task=None,
        iterdata_form_task=None,
        extra_args=None,
        extra_params=None,
        map_runtime_memory=None,
        reduce_runtime_memory=None,
        chunk_size=None,
        chunk_n=None,
        remote_invocation=False,
        invoke_pool_threads=500,
        reducer_one_per_object=False,
        reducer_wait_local=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if iterdata_from_task is None:
            iterdata_from_task = iterdata_form_task
        if map_iterdata is None and iterdata_from_task is None:
            raise AirflowException("At least map_iterdata or iterdata_from_task must be set")
        self.map_function = map_function
        self.reduce_function = reduce_function
        self.map_iterdata = map_iterdata
        self.iterdata_from_task = iterdata_from_task
        self.extra_args = extra_args if extra_args is not None else extra_params
        self.extra_params = self.extra_args
        self.map_runtime_memory = map_runtime_memory
        self.reduce_runtime_memory = reduce_runtime_memory
        self.chunk_size = chunk_size
        self.chunk_n = chunk_n
        self.remote_invocation = remote_invocation
        self.invoke_pool_threads = invoke_pool_threads
        self.reducer_one_per_object = reducer_one_per_object
        self.reducer_wait_local = reducer_wait_local
