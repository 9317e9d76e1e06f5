"""``airflow.providers.common``: ``compat`` is lithoflow's; other modules are stubs."""
