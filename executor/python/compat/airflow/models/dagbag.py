"""Airflow's ``DagBag`` (a DAG file that builds one at parse time gets an empty bag:
lithoflow's loader is the DAG bag)."""


class DagBag:
    def __init__(self, dag_folder=None, include_examples=False, read_dags_from_db=False, **kwargs):
        self.dag_folder = dag_folder
        self.dags = {}
        self.import_errors = {}

    def get_dag(self, dag_id, session=None):
        return self.dags.get(dag_id)

    @property
    def dag_ids(self):
        return list(self.dags)

    def size(self):
        return len(self.dags)
