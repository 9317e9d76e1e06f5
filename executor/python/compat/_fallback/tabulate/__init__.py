"""lithoflow's fallback for tabulate (an Airflow dependency lithoflow does not ship): where tabulate is
not installed, `import tabulate` and its submodules succeed so that a DAG file that uses it only in
its tasks loads; every use raises an ImportError saying to install tabulate. Installing the real
tabulate replaces it (`<compat>/_fallback` is at the END of `sys.path`)."""

import _lithoflow_missing

_lithoflow_missing.become(__name__, "tabulate")
