"""lithoflow's fallback for sqlalchemy (an Airflow dependency lithoflow does not ship): where sqlalchemy is
not installed, `import sqlalchemy` and its submodules succeed so that a DAG file that uses it only in
its tasks loads; every use raises an ImportError saying to install SQLAlchemy. Installing the real
sqlalchemy replaces it (`<compat>/_fallback` is at the END of `sys.path`)."""

import _lithoflow_missing

_lithoflow_missing.become(__name__, "SQLAlchemy")
