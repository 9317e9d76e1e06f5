"""lithoflow's fallback for ``kubernetes.client`` (see ``kubernetes/__init__.py``): the models,
``ApiException``; the API classes raise when used. Installing the real kubernetes replaces it."""

import _lithoflow_missing

from kubernetes.client import models
from kubernetes.client.exceptions import ApiException, ApiTypeError, ApiValueError, OpenApiException

__all__ = ["ApiException", "ApiTypeError", "ApiValueError", "OpenApiException", "models"]


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    if models.is_model_name(name):
        return getattr(models, name)
    # CoreV1Api, ApiClient, Configuration, ...: using one needs the real client
    return _lithoflow_missing.stub("kubernetes", "kubernetes", "kubernetes.client." + name)
