"""Airflow's ``BaseNotifier`` (a callback object; lithoflow calls it like a function)."""


class BaseNotifier:
    template_fields = ()
    template_ext = ()

    def __init__(self):
        pass

    def notify(self, context):
        raise NotImplementedError

    def __call__(self, *args):
        context = args[0] if len(args) == 1 else {"dag": args[0] if args else None}
        return self.notify(context)
