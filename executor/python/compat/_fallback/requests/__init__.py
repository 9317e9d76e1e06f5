"""lithoflow's fallback for requests (an Airflow dependency lithoflow does not ship): where requests is
not installed, `import requests` and its submodules succeed so that a DAG file that uses it only in
its tasks loads; every use raises an ImportError saying to install requests. Installing the real
requests replaces it (`<compat>/_fallback` is at the END of `sys.path`)."""

import _lithoflow_missing

_lithoflow_missing.become(__name__, "requests")
