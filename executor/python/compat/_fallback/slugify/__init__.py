"""lithoflow's fallback for slugify (an Airflow dependency lithoflow does not ship): where slugify is
not installed, `import slugify` and its submodules succeed so that a DAG file that uses it only in
its tasks loads; every use raises an ImportError saying to install python-slugify. Installing the real
slugify replaces it (`<compat>/_fallback` is at the END of `sys.path`)."""

import _lithoflow_missing

_lithoflow_missing.become(__name__, "python-slugify")
