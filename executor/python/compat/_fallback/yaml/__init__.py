"""lithoflow's fallback for yaml (an Airflow dependency lithoflow does not ship): where yaml is
not installed, `import yaml` and its submodules succeed so that a DAG file that uses it only in
its tasks loads; every use raises an ImportError saying to install PyYAML. Installing the real
yaml replaces it (`<compat>/_fallback` is at the END of `sys.path`)."""

import _lithoflow_missing

_lithoflow_missing.become(__name__, "PyYAML")
