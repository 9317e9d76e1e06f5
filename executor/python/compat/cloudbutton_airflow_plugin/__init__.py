"""The Lithops Airflow plugin's own package, as DAG files import it once the plugin is
installed (Airflow 2 dropped ``airflow.operators.<plugin>``):
``from cloudbutton_airflow_plugin.operators.cloudbutton_operator import CloudbuttonMapOperator``.
lithoflow runs these operators as its native call_async, map and map_reduce tasks."""
