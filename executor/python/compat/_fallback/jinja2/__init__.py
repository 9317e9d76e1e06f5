"""lithoflow's fallback for jinja2 (an Airflow dependency lithoflow does not ship): where jinja2 is
not installed, `import jinja2` and its submodules succeed so that a DAG file that uses it only in
its tasks loads; every use raises an ImportError saying to install Jinja2. Installing the real
jinja2 replaces it (`<compat>/_fallback` is at the END of `sys.path`)."""

import _lithoflow_missing

_lithoflow_missing.become(__name__, "Jinja2")
