"""Functions the example DAGs call.

They live in their own module, next to the DAG files, exactly as the Lithops Airflow
plugin requires: lithoflow imports them with this folder on sys.path, like
`from my_functions import add` in an Airflow DAG file.
"""


def add(x, y):
    """Return x + y."""
    return x + y


def mult_array(results):
    """Multiply the map results together.

    The seed README's version did `result *= 2` for every result, which returns
    2 ** len(results) (8 for three results), and claimed 18. This one multiplies
    the results, which is what its name and the example intend.
    """
    result = 1
    for n in results:
        result *= n
    return result


def numbers(n):
    """Return [1, 2, ..., n]: the list a mapped task expands over."""
    return list(range(1, n + 1))
