"""Airflow's ``Pool`` (``Pool.DEFAULT_POOL_NAME``; pools are lithoflow's own, `lithoflow pools`)."""


class Pool:
    DEFAULT_POOL_NAME = "default_pool"

    def __init__(self, pool=None, slots=0, description=None, include_deferred=False):
        self.pool = pool
        self.slots = slots
        self.description = description
        self.include_deferred = include_deferred
