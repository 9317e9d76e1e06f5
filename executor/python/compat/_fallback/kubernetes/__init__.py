"""lithoflow's fallback for the kubernetes client (which Airflow's cncf.kubernetes provider
installs and lithoflow does not ship), so that KubernetesPodOperator DAG files load:
``from kubernetes.client import models as k8s`` and ``k8s.V1ResourceRequirements(...)``,
``V1Volume``, ``V1EnvVar``, ... build generic models (keyword arguments stored as attributes,
``to_dict()``). Talking to a cluster (``config.load_*``, the ``*Api`` classes) raises an
ImportError saying to install kubernetes; the operator itself is a provider operator lithoflow
does not run. Installing the real kubernetes package replaces it (``<compat>/_fallback`` is at
the END of ``sys.path``)."""

__version__ = "0+lithoflow.fallback"

from kubernetes import client, config  # noqa: E402

__all__ = ["client", "config"]
