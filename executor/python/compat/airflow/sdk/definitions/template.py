"""Airflow 3's ``literal``: a value Jinja does not render."""


class LiteralValue:
    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"literal({self.value!r})"


def literal(value):
    """Wrap a value so it is not rendered as a template."""
    return LiteralValue(value)
