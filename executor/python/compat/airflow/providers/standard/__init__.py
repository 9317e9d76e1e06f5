"""apache-airflow-providers-standard (Airflow 3's home of the core operators and sensors)."""

__version__ = "1.21.0"
