"""Airflow's ``BaseTrigger`` and ``TriggerEvent`` (lithoflow has no triggerer: a trigger can be
built, e.g. for an asset watcher, and never fires)."""


class BaseTrigger:
    def __init__(self, **kwargs):
        self.trigger_id = None
        self.task_instance = None

    def serialize(self):
        raise NotImplementedError("Triggers must implement serialize()")

    async def run(self):
        raise NotImplementedError("Triggers must implement run()")
        yield  # pragma: no cover

    async def cleanup(self):
        pass

    def __repr__(self):
        return f"<{type(self).__name__}>"


class BaseEventTrigger(BaseTrigger):
    pass


class TriggerEvent:
    def __init__(self, payload):
        self.payload = payload

    def __repr__(self):
        return f"TriggerEvent<{self.payload!r}>"


class StartTriggerArgs:
    def __init__(self, trigger_cls, next_method, trigger_kwargs=None, next_kwargs=None, timeout=None):
        self.trigger_cls = trigger_cls
        self.next_method = next_method
        self.trigger_kwargs = trigger_kwargs
        self.next_kwargs = next_kwargs
        self.timeout = timeout
