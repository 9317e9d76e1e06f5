"""lithoflow's fallback for ``dateutil.utils``, which the python-dateutil stand-in does not
implement: the import succeeds so that a DAG file using it only in its tasks loads; every use
raises an ImportError saying to install python-dateutil, which replaces this package."""

import _lithoflow_missing

_lithoflow_missing.become(__name__, "python-dateutil")
