"""apache-airflow-providers-common-compat: names that work on Airflow 2 and 3; here they
are lithoflow's own objects."""
