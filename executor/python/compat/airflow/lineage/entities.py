"""Airflow's lineage entities (airflow/lineage/entities.py): ``File``, ``Table``, ``Column``,
``User``, ``Tag`` as plain records (inlets/outlets)."""


class _Entity:
    _fields = ()

    def __init__(self, *args, **kwargs):
        for name, value in zip(self._fields, args):
            kwargs.setdefault(name, value)
        for name in self._fields:
            setattr(self, name, kwargs.pop(name, None))
        for name, value in kwargs.items():
            setattr(self, name, value)

    def __repr__(self):
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"


class File(_Entity):
    _fields = ("url", "type_hint")
    template_fields = ("url",)


class User(_Entity):
    _fields = ("email", "first_name", "last_name")
    template_fields = ("email", "first_name", "last_name")


class Tag(_Entity):
    _fields = ("tag_name",)
    template_fields = ("tag_name",)


class Column(_Entity):
    _fields = ("name", "description", "data_type", "tags")
    template_fields = ("name", "description", "data_type", "tags")


class Table(_Entity):
    _fields = ("database", "cluster", "name", "tags", "description", "columns", "owners", "extra", "type_hint")
    template_fields = ("database", "cluster", "name", "tags", "description", "columns", "owners", "extra")


def default_if_none(arg):
    return arg or []
