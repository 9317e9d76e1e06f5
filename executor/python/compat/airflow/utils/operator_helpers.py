"""Airflow's ``airflow.utils.operator_helpers``."""


def context_to_airflow_vars(context, in_env_var_format=False):
    return {}


def determine_kwargs(python_callable, op_args, context):
    import inspect

    sig = inspect.signature(python_callable)
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return dict(context)
    return {k: v for k, v in context.items() if k in sig.parameters}
