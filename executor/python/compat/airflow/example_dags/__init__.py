"""The helper modules Airflow's own example DAGs import (``airflow.example_dags.libs.helper``,
``airflow.example_dags.subdags.subdag``, ``airflow.example_dags.plugins.workday``),
written for lithoflow, so those example files load unchanged."""
