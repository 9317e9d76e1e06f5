"""lithoflow's fallback for ``pendulum.parsing.exceptions``: installing the real pendulum replaces it."""


class ParserError(ValueError):
    pass
