"""Starts lithoflow's local worker: the host runs ``python3 -u <folder>/lithoflow_start.py
--worker``. The worker's code is the module ``lithoflow_worker`` beside this file,
imported rather than run as the main script: Python reads an imported module's cached
bytecode, and compiles the main script at every start (about 2.5 ms of every worker's
start, which a chain of tasks waits for)."""

import sys

# The runtime's own modules are imported with bytecode caching on (see
# ``lithoflow_worker``, which does the same for the modules it imports).
_dont_write_bytecode = sys.dont_write_bytecode
sys.dont_write_bytecode = False
try:
    import lithoflow_worker
finally:
    sys.dont_write_bytecode = _dont_write_bytecode

lithoflow_worker.main()
