"""lithoflow's fallback for ``kubernetes.config``: loading a cluster configuration needs the
real kubernetes package, which replaces this one when installed."""

import _lithoflow_missing


class ConfigException(Exception):
    pass


def _needs(name):
    def f(*args, **kwargs):
        raise _lithoflow_missing.error("kubernetes", "kubernetes", "kubernetes.config.%s()" % name)

    f.__name__ = name
    return f


load_kube_config = _needs("load_kube_config")
load_incluster_config = _needs("load_incluster_config")
load_config = _needs("load_config")
new_client_from_config = _needs("new_client_from_config")
list_kube_config_contexts = _needs("list_kube_config_contexts")
