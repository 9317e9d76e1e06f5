"""The Lithops Airflow plugin's own package, as DAG files import it once the plugin is
installed (Airflow 2 dropped ``airflow.operators.<plugin>``):
``from lithops_airflow_plugin.operators.lithops_operator import LithopsMapOperator``.
lithoflow runs these operators as its native call_async, map and map_reduce tasks."""
