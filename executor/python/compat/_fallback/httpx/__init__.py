"""lithoflow's fallback for httpx (an Airflow dependency lithoflow does not ship): where httpx is
not installed, `import httpx` and its submodules succeed so that a DAG file that uses it only in
its tasks loads; every use raises an ImportError saying to install httpx. Installing the real
httpx replaces it (`<compat>/_fallback` is at the END of `sys.path`)."""

import _lithoflow_missing

_lithoflow_missing.become(__name__, "httpx")
