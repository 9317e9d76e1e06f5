"""Airflow's ``XComArg`` (airflow/models/xcom_arg.py, 2.10; airflow/sdk/definitions/xcom_arg.py,
3.1): a reference to a task's XCom, used to pass data and to wire dependencies.

``XComArg(operator, key="return_value")`` gives a ``PlainXComArg`` with ``.operator`` and
``.key``; ``.map(f)``, ``.zip(...)`` and ``.concat(...)`` give ``MapXComArg``,
``ZipXComArg`` and ``ConcatXComArg`` (for mapping), whose ``iter_references()`` name the
operators they read."""

from airflow._lithoflow.core import NOTSET
from airflow.models.taskmixin import DependencyMixin

XCOM_RETURN_KEY = "return_value"


class ResolveMixin:
    """Airflow's mixin for objects resolved at run time (XComArg, DagParam...)."""

    def iter_references(self):
        return iter(())


class XComArg(ResolveMixin, DependencyMixin):
    """Reference to an XCom value pushed from another operator."""

    def __new__(cls, *args, **kwargs):
        if cls is XComArg:
            return PlainXComArg(*args, **kwargs)
        return super().__new__(cls)

    @staticmethod
    def iter_xcom_references(arg):
        """Every (operator, key) referenced in ``arg``, looking into collections and into
        objects with ``template_fields``."""
        from airflow.models.baseoperator import BaseOperator

        if isinstance(arg, ResolveMixin):
            yield from arg.iter_references()
        elif isinstance(arg, (tuple, set, list)):
            for elem in arg:
                yield from XComArg.iter_xcom_references(elem)
        elif isinstance(arg, dict):
            for elem in arg.values():
                yield from XComArg.iter_xcom_references(elem)
        elif isinstance(arg, BaseOperator):
            for attr in arg.template_fields:
                yield from XComArg.iter_xcom_references(getattr(arg, attr, None))
        elif hasattr(arg, "template_fields") and not isinstance(arg, type):
            fields = getattr(arg, "template_fields", ()) or ()
            if isinstance(fields, (list, tuple)):
                for attr in fields:
                    yield from XComArg.iter_xcom_references(getattr(arg, attr, None))

    @staticmethod
    def apply_upstream_relationship(op, arg):
        """Set dependency for XComArgs found in ``arg`` (deeply)."""
        for operator, _ in XComArg.iter_xcom_references(arg):
            op.set_upstream(operator)

    @property
    def roots(self):
        return [op for op, _ in self.iter_references()]

    @property
    def leaves(self):
        return [op for op, _ in self.iter_references()]

    def set_upstream(self, task_or_task_list, edge_modifier=None):
        for operator, _ in self.iter_references():
            operator.set_upstream(task_or_task_list, edge_modifier)

    def set_downstream(self, task_or_task_list, edge_modifier=None):
        for operator, _ in self.iter_references():
            operator.set_downstream(task_or_task_list, edge_modifier)

    def _serialize(self):
        raise NotImplementedError()

    def map(self, f):
        return MapXComArg(self, [f])

    def zip(self, *others, fillvalue=NOTSET):
        return ZipXComArg([self, *others], fillvalue=fillvalue)

    def concat(self, *others):
        return ConcatXComArg([self, *others])

    def resolve(self, context, session=None, *, include_xcom=True):
        raise NotImplementedError()

    def __enter__(self):
        from airflow.exceptions import AirflowException

        if not self.operator.is_setup and not self.operator.is_teardown:
            raise AirflowException("Only setup/teardown tasks can be used as context managers.")
        from airflow.utils.setup_teardown import SetupTeardownContext

        SetupTeardownContext.push_setup_teardown_task(self.operator)
        return SetupTeardownContext

    def __exit__(self, exc_type, exc_val, exc_tb):
        from airflow.utils.setup_teardown import SetupTeardownContext

        SetupTeardownContext.set_work_task_roots_and_leaves()


class PlainXComArg(XComArg):
    """Reference to one single XCom without any additional semantics."""

    def __init__(self, operator, key=XCOM_RETURN_KEY):
        self.operator = operator
        self.key = key

    def __eq__(self, other):
        if not isinstance(other, PlainXComArg):
            return NotImplemented
        return self.operator is other.operator and self.key == other.key

    def __hash__(self):
        return hash((id(self.operator), self.key))

    def __getitem__(self, item):
        """Implement xcomresult['some_result_key']."""
        if not isinstance(item, str):
            raise ValueError(f"XComArg only supports str lookup, received {type(item).__name__}")
        return PlainXComArg(operator=self.operator, key=item)

    def __iter__(self):
        raise TypeError("'XComArg' object is not iterable")

    def __repr__(self):
        if self.key == XCOM_RETURN_KEY:
            return f"XComArg({self.operator!r})"
        return f"XComArg({self.operator!r}, {self.key!r})"

    def __str__(self):
        """Backward compatibility for old-style jinja used in Airflow Operators."""
        xcom_pull_kwargs = [
            f"task_ids='{self.operator.task_id}'",
            f"dag_id='{self.operator.dag_id}'",
        ]
        if self.key is not None:
            xcom_pull_kwargs.append(f"key='{self.key}'")
        xcom_pull_str = ", ".join(xcom_pull_kwargs)
        return f"{{{{ task_instance.xcom_pull({xcom_pull_str}) }}}}"

    def _serialize(self):
        return {"task_id": self.operator.task_id, "key": self.key}

    @property
    def is_setup(self):
        return self.operator.is_setup

    @is_setup.setter
    def is_setup(self, val):
        self.operator.is_setup = val

    @property
    def is_teardown(self):
        return self.operator.is_teardown

    @is_teardown.setter
    def is_teardown(self, val):
        self.operator.is_teardown = val

    @property
    def on_failure_fail_dagrun(self):
        return self.operator.on_failure_fail_dagrun

    @on_failure_fail_dagrun.setter
    def on_failure_fail_dagrun(self, val):
        self.operator.on_failure_fail_dagrun = val

    def as_setup(self):
        for operator, _ in self.iter_references():
            operator.is_setup = True
        return self

    def as_teardown(self, *, setups=NOTSET, on_failure_fail_dagrun=NOTSET):
        for operator, _ in self.iter_references():
            operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def iter_references(self):
        yield self.operator, self.key

    def map(self, f):
        if self.key != XCOM_RETURN_KEY:
            raise ValueError("cannot map against non-return XCom")
        return super().map(f)

    def zip(self, *others, fillvalue=NOTSET):
        if self.key != XCOM_RETURN_KEY:
            raise ValueError("cannot map against non-return XCom")
        return super().zip(*others, fillvalue=fillvalue)

    def concat(self, *others):
        if self.key != XCOM_RETURN_KEY:
            raise ValueError("cannot concatenate non-return XCom")
        return super().concat(*others)


class MapXComArg(XComArg):
    """An XCom reference with ``map()`` call(s) applied: ``.arg`` and ``.callables``."""

    def __init__(self, arg, callables):
        for c in callables:
            if getattr(c, "_airflow_is_task_decorator", False):
                raise ValueError("map() argument must be a plain function, not a @task operator")
        self.arg = arg
        self.callables = callables

    def __repr__(self):
        return f"{self.arg!r}.map([{len(self.callables)} functions])"

    def iter_references(self):
        yield from self.arg.iter_references()

    def map(self, f):
        return MapXComArg(self.arg, [*self.callables, f])


class ZipXComArg(XComArg):
    """Several XCom references zipped together: ``.args``, ``.fillvalue``."""

    def __init__(self, args, *, fillvalue=NOTSET):
        if not args:
            raise ValueError("At least one input is required")
        self.args = args
        self.fillvalue = fillvalue

    def __repr__(self):
        args_iter = iter(self.args)
        first = repr(next(args_iter))
        rest = ", ".join(repr(arg) for arg in args_iter)
        if self.fillvalue is NOTSET:
            return f"{first}.zip({rest})"
        return f"{first}.zip({rest}, fillvalue={self.fillvalue!r})"

    def iter_references(self):
        for arg in self.args:
            yield from arg.iter_references()


class ConcatXComArg(XComArg):
    """Several XCom references concatenated: ``.args``."""

    def __init__(self, args):
        if not args:
            raise ValueError("At least one input is required")
        self.args = args

    def __repr__(self):
        args_iter = iter(self.args)
        first = repr(next(args_iter))
        rest = ", ".join(repr(arg) for arg in args_iter)
        return f"{first}.concat({rest})"

    def iter_references(self):
        for arg in self.args:
            yield from arg.iter_references()

    def concat(self, *others):
        return ConcatXComArg([*self.args, *others])


def serialize_xcom_arg(value):
    return {"type": type(value).__name__, **value._serialize()}
