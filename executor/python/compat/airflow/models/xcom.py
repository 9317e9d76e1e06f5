"""Airflow's ``XCom`` names (``XCOM_RETURN_KEY``; ``XCom`` for imports and type hints)."""

XCOM_RETURN_KEY = "return_value"


class BaseXCom:
    @classmethod
    def get_one(cls, *args, **kwargs):
        raise NotImplementedError("XCom.get_one is only available through the task context in lithoflow")

    @classmethod
    def set(cls, *args, **kwargs):
        raise NotImplementedError("XCom.set is only available through the task context in lithoflow")


XCom = BaseXCom
LazyXComSelectSequence = list
