"""Functions of the soak benchmark's larger DAG (soak_map_1000.toml)."""


def numbers(n):
    """Return [0, 1, ..., n - 1]."""
    return list(range(n))


def total(results):
    """Reducer: the sum of the map results."""
    return sum(results)
