"""lithoflow's fallback for ``kubernetes.client.rest``: installing the real kubernetes replaces it."""

from kubernetes.client.exceptions import ApiException  # noqa: F401
