"""The functions both lithoflow and Lithops run in the executor benchmark.

Both sides import this module (lithoflow's workers with this folder on sys.path, Lithops
through its module shipping), so the work per call is identical and trivial: what is
measured is the executor's overhead.
"""


def add(x, y=1):
    """The mapped function: one trivial call."""
    return x + y


def total(results):
    """The reducer: sums the map results."""
    return sum(results)
