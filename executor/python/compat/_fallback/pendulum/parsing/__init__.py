"""lithoflow's fallback for ``pendulum.parsing``: installing the real pendulum replaces it."""

from pendulum.parsing.exceptions import ParserError

__all__ = ["ParserError"]
