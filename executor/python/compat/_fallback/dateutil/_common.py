"""lithoflow's fallback for ``dateutil._common`` (the ``weekday`` class); installing the real
python-dateutil replaces it."""


class weekday(object):
    """A day of the week (0 = Monday) and an optional ``n``: ``MO``, ``MO(+1)``, ``FR(-1)``."""

    __slots__ = ["weekday", "n"]

    def __init__(self, weekday, n=None):
        if n == 0:
            raise ValueError("Can't create weekday with n==0")
        self.weekday = weekday
        self.n = n

    def __call__(self, n):
        if n == self.n:
            return self
        return self.__class__(self.weekday, n)

    def __eq__(self, other):
        try:
            if self.weekday != other.weekday or self.n != other.n:
                return False
        except AttributeError:
            return False
        return True

    def __hash__(self):
        return hash((self.weekday, self.n))

    def __repr__(self):
        s = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[self.weekday]
        return s if not self.n else "%s(%+d)" % (s, self.n)
