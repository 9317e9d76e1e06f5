"""lithoflow's fallback for tenacity (an Airflow dependency lithoflow does not ship): where tenacity is
not installed, `import tenacity` and its submodules succeed so that a DAG file that uses it only in
its tasks loads; every use raises an ImportError saying to install tenacity. Installing the real
tenacity replaces it (`<compat>/_fallback` is at the END of `sys.path`)."""

import _lithoflow_missing

_lithoflow_missing.become(__name__, "tenacity")
