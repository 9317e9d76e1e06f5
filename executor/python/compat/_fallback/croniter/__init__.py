"""lithoflow's fallback for croniter (an Airflow dependency lithoflow does not ship): where croniter is
not installed, `import croniter` and its submodules succeed so that a DAG file that uses it only in
its tasks loads; every use raises an ImportError saying to install croniter. Installing the real
croniter replaces it (`<compat>/_fallback` is at the END of `sys.path`)."""

import _lithoflow_missing

_lithoflow_missing.become(__name__, "croniter")
