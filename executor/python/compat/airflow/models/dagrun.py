"""Airflow's ``DagRun`` (kept for imports and type hints; a run's context gives the live one)."""


class DagRun:
    def __init__(self, dag_id=None, run_id=None, execution_date=None, conf=None, state=None, run_type=None,
                 external_trigger=None, **kwargs):
        self.dag_id = dag_id
        self.run_id = run_id
        self.execution_date = execution_date
        self.logical_date = kwargs.get("logical_date", execution_date)
        self.conf = conf or {}
        self.state = state
        self.run_type = run_type
        self.external_trigger = external_trigger

    @staticmethod
    def find(*args, **kwargs):
        return []


DagRunNote = dict
