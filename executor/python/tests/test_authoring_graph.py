"""The authoring API's graph (compat/airflow): task ids with TaskGroup prefixes and the
edges ``>>``/``<<``/``set_upstream``/``chain``/``chain_linear``/``cross_downstream``/
``Label``/XComArgs make, as Airflow 2.10 builds them."""

from tests.test_authoring_support import AuthoringCase

HEAD = """
import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator
from airflow.utils.task_group import TaskGroup
from airflow.utils.edgemodifier import Label
from airflow.models.baseoperator import chain, chain_linear, cross_downstream
from airflow.decorators import task, task_group
START = datetime.datetime(2024, 1, 1)
"""


class ShiftTest(AuthoringCase):
    def test_lists_on_both_sides(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    a, b, c, d, e = [EmptyOperator(task_id=x) for x in "abcde"]
    a >> [b, c] >> d
    e << d
    [a, e] << EmptyOperator(task_id="z")
""").only()
        self.assertEdges(dag, [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"), ("z", "a"), ("z", "e")])

    def test_set_upstream_and_downstream_with_lists(self):
        dag = self.load(HEAD + """
dag = DAG("d", start_date=START, schedule=None)
a = EmptyOperator(task_id="a", dag=dag)
b = EmptyOperator(task_id="b", dag=dag)
c = EmptyOperator(task_id="c", dag=dag)
a.set_downstream([b, c])
c.set_upstream(b)
""").only()
        self.assertEdges(dag, [("a", "b"), ("a", "c"), ("b", "c")])
        self.assertEqual(sorted(dag.get_task("a").downstream_task_ids), ["b", "c"])

    def test_task_without_dag_is_adopted(self):
        dag = self.load(HEAD + """
dag = DAG("d", start_date=START, schedule=None)
a = EmptyOperator(task_id="a", dag=dag)
loose = EmptyOperator(task_id="loose")
a >> loose
""").only()
        self.assertEqual(sorted(dag.task_dict), ["a", "loose"])
        self.assertIs(dag.get_task("loose").dag, dag)

    def test_xcomarg_edges(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    @task
    def make():
        return 1

    @task
    def use(x, y):
        return x + y

    first = make()
    second = make()
    use(first, y=second)
    b = BashOperator(task_id="b", bash_command=f"echo {first}")
    p = PythonOperator(task_id="p", python_callable=print, op_kwargs={"v": b.output})
    first >> EmptyOperator(task_id="after")
""").only()
        self.assertEqual(sorted(dag.task_dict), ["after", "b", "make", "make__1", "p", "use"])
        # f"{xcomarg}" renders a template string (no edge, as in Airflow); op_kwargs holds an XComArg (edge).
        self.assertEdges(dag, [("make", "use"), ("make__1", "use"), ("b", "p"), ("make", "after")])
        self.assertEqual(
            dag.get_task("b").bash_command,
            "echo {{ task_instance.xcom_pull(task_ids='make', dag_id='d', key='return_value') }}",
        )

    def test_xcomarg_assigned_to_templated_field_after_init(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    a = EmptyOperator(task_id="a")
    b = BashOperator(task_id="b", bash_command="echo")
    b.env = {"X": a.output}
""").only()
        self.assertEdges(dag, [("a", "b")])


class GroupTest(AuthoringCase):
    def test_prefixes_nested_and_unprefixed(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    start = EmptyOperator(task_id="start")
    with TaskGroup("outer") as outer:
        x = EmptyOperator(task_id="x")
        with TaskGroup("inner") as inner:
            y = EmptyOperator(task_id="y")
            z = EmptyOperator(task_id="z")
            y >> z
        with TaskGroup("flat", prefix_group_id=False):
            w = EmptyOperator(task_id="w")
        x >> inner
    end = EmptyOperator(task_id="end")
    start >> outer >> end
""").only()
        self.assertEqual(sorted(dag.task_dict), ["end", "outer.inner.y", "outer.inner.z", "outer.x", "start", "w"])
        # outer's roots: x and w (no upstream inside outer); its leaves: z and w.
        self.assertEdges(dag, [
            ("start", "outer.x"), ("start", "w"), ("outer.x", "outer.inner.y"),
            ("outer.inner.y", "outer.inner.z"), ("outer.inner.z", "end"), ("w", "end"),
        ])
        self.assertEqual(dag.task_group_dict["outer.inner"].label, "inner")

    def test_group_to_group_and_lists_of_groups(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    groups = []
    for i in range(2):
        with TaskGroup(f"g{i}") as g:
            EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
        groups.append(g)
    last = EmptyOperator(task_id="last")
    groups[0] >> groups[1]
    groups >> last
""").only()
        self.assertEdges(dag, [
            ("g0.a", "g0.b"), ("g1.a", "g1.b"), ("g0.b", "g1.a"), ("g0.b", "last"), ("g1.b", "last"),
        ])

    def test_task_group_decorator_suffixes_and_return_value(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    @task
    def extract():
        return 1

    @task
    def transform(v):
        return v

    @task_group
    def etl():
        return transform(extract())

    @task_group(group_id="wrapped")
    def wrapped():
        extract()

    first = etl()
    second = etl()
    w = wrapped()
    first >> w
""").only()
        self.assertEqual(sorted(dag.task_dict), [
            "etl.extract", "etl.transform", "etl__1.extract", "etl__1.transform", "wrapped.extract",
        ])
        # etl() returned transform's XComArg: `first >> w` wires transform into the group's roots.
        self.assertEdges(dag, [
            ("etl.extract", "etl.transform"), ("etl__1.extract", "etl__1.transform"),
            ("etl.transform", "wrapped.extract"),
        ])

    def test_duplicate_taskflow_ids_get_suffixes_inside_groups(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    @task
    def step():
        return 1

    with TaskGroup("g"):
        step()
        step()
        step.override(task_id="named")()
    step()
""").only()
        self.assertEqual(sorted(dag.task_dict), ["g.named", "g.step", "g.step__1", "step"])

    def test_explicit_task_group_argument(self):
        dag = self.load(HEAD + """
dag = DAG("d", start_date=START, schedule=None)
g = TaskGroup("g", dag=dag)
a = EmptyOperator(task_id="a", dag=dag, task_group=g)
b = EmptyOperator(task_id="b", dag=dag)
b >> g
""").only()
        self.assertEqual(sorted(dag.task_dict), ["b", "g.a"])
        self.assertEdges(dag, [("b", "g.a")])


class HelpersTest(AuthoringCase):
    def test_chain_with_lists_groups_and_labels(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    t = {x: EmptyOperator(task_id=x) for x in ["a", "b1", "b2", "c1", "c2", "d", "e"]}
    with TaskGroup("g") as g:
        EmptyOperator(task_id="in")
    chain(t["a"], [t["b1"], t["b2"]], [t["c1"], t["c2"]], t["d"], Label("why"), g, t["e"])
""").only()
        self.assertEdges(dag, [
            ("a", "b1"), ("a", "b2"), ("b1", "c1"), ("b2", "c2"), ("c1", "d"), ("c2", "d"),
            ("d", "g.in"), ("g.in", "e"),
        ])
        self.assertEqual(dag.get_edge_info("d", "g.in"), {"label": "why"})

    def test_chain_different_lengths_fails(self):
        with self.assertRaisesRegex(Exception, "Chain not supported for different length Iterable. Got 2 and 3."):
            self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    a, b, c, d, e = [EmptyOperator(task_id=x) for x in "abcde"]
    chain([a, b], [c, d, e])
""")

    def test_chain_linear_and_cross_downstream(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    a, b, c, d, e, f = [EmptyOperator(task_id=x) for x in "abcdef"]
    chain_linear(a, [b, c], [d, e])
    x, y, z = [EmptyOperator(task_id=n) for n in "xyz"]
    cross_downstream([x, y], [z, f])
""").only()
        self.assertEdges(dag, [
            ("a", "b"), ("a", "c"), ("b", "d"), ("b", "e"), ("c", "d"), ("c", "e"),
            ("x", "z"), ("x", "f"), ("y", "z"), ("y", "f"),
        ])

    def test_chain_from_airflow_1_10_helpers(self):
        dag = self.load("""
import airflow
from airflow import DAG
from airflow.operators.dummy_operator import DummyOperator
from airflow.utils.helpers import chain, cross_downstream
dag = DAG("d", start_date=airflow.utils.dates.days_ago(1), schedule_interval="@daily")
a, b, c = [DummyOperator(task_id=x, dag=dag) for x in "abc"]
chain(a, b, c)
""").only()
        self.assertEdges(dag, [("a", "b"), ("b", "c")])

    def test_labels_between_tasks_and_lists(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    a, b, c = [EmptyOperator(task_id=x) for x in "abc"]
    a >> Label("yes") >> b
    a >> Label("no") >> [c]
""").only()
        self.assertEdges(dag, [("a", "b"), ("a", "c")])
        self.assertEqual(dag.edge_info, {"a": {"b": {"label": "yes"}, "c": {"label": "no"}}})

    def test_label_into_a_group(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    a = EmptyOperator(task_id="a")
    with TaskGroup("g") as g:
        x = EmptyOperator(task_id="x")
        y = EmptyOperator(task_id="y")
    a >> Label("go") >> x
    b = EmptyOperator(task_id="b")
    x << Label("back") << b
""").only()
        # Airflow's EdgeModifier: across groups, the stream saved first is replaced by its
        # group, so `x << Label << b` wires b to every root of g, `a >> Label >> x` only to x.
        self.assertEdges(dag, [("a", "g.x"), ("b", "g.x"), ("b", "g.y")])


class MappingTest(AuthoringCase):
    def test_classic_partial_expand(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    src = PythonOperator(task_id="src", python_callable=lambda: [1, 2])
    m = BashOperator.partial(task_id="m", retries=2).expand(bash_command=["echo 1", "echo 2"])
    n = PythonOperator.partial(task_id="n", python_callable=print).expand(op_args=src.output)
""").only()
        m = dag.get_task("m")
        self.assertEqual(m._lithoflow_mapped, {
            "expand": {"bash_command": ["echo 1", "echo 2"]}, "expand_kwargs": None,
            "partial": {"task_id": "m", "retries": 2}, "strict": False, "taskflow": False,
        })
        self.assertEqual(m.retries, 2)
        n = dag.get_task("n")
        self.assertEqual(n._lithoflow_mapped["expand"]["op_args"].operator.task_id, "src")
        self.assertEdges(dag, [("src", "n")])
        from airflow.models.mappedoperator import MappedOperator

        self.assertIsInstance(n, MappedOperator)
        self.assertNotIsInstance(dag.get_task("src"), MappedOperator)

    def test_expand_kwargs_and_taskflow_expand(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    @task
    def numbers():
        return [1, 2, 3]

    @task
    def add(x, y):
        return x + y

    nums = numbers()
    added = add.partial(y=10).expand(x=nums)
    kw = BashOperator.partial(task_id="kw").expand_kwargs([{"bash_command": "echo a"}, {"bash_command": "echo b"}])
    mapped_lit = add.expand(x=[1, 2], y=[3])
    from_xcom = add.expand_kwargs(nums.map(lambda n: {"x": n, "y": n}))
""").only()
        self.assertEqual(sorted(dag.task_dict), ["add", "add__1", "add__2", "kw", "numbers"])
        rec = dag.get_task("add")._lithoflow_mapped
        self.assertEqual(rec["partial"], {"y": 10})
        self.assertTrue(rec["taskflow"])
        self.assertEqual(rec["expand"]["x"].operator.task_id, "numbers")
        self.assertEqual(dag.get_task("kw")._lithoflow_mapped["expand_kwargs"],
                         [{"bash_command": "echo a"}, {"bash_command": "echo b"}])
        self.assertEqual(dag.get_task("add__1")._lithoflow_mapped["expand"], {"x": [1, 2], "y": [3]})
        self.assertEqual(dag.get_task("add__2")._lithoflow_mapped["expand_kwargs"].arg.operator.task_id, "numbers")
        self.assertEdges(dag, [("numbers", "add"), ("numbers", "add__2")])

    def test_expand_rejects_what_airflow_rejects(self):
        with self.assertRaisesRegex(TypeError, "unmappable or already specified argument: bash_command"):
            self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    BashOperator.partial(task_id="m", bash_command="x").expand(bash_command=["a"])
""")
        with self.assertRaisesRegex(ValueError, "expand\\(\\) got an unexpected type 'int' for keyword argument 'x'"):
            self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    @task
    def f(x):
        return x
    f.expand(x=1)
""")

    def test_mapped_task_group(self):
        dag = self.load(HEAD + """
with DAG("d", start_date=START, schedule=None) as dag:
    @task
    def items():
        return [1, 2]

    @task
    def double(v):
        return v * 2

    @task
    def factor():
        return 3

    @task
    def scale(v, f):
        return v * f

    @task_group
    def per_item(v, f):
        scale(double(v), f)

    per_item.partial(f=factor()).expand(v=items())
""").only()
        self.assertEqual(sorted(dag.task_dict), ["factor", "items", "per_item.double", "per_item.scale"])
        group = dag.task_group_dict["per_item"]
        self.assertEqual(group._lithoflow_mapped["expand"]["v"].operator.task_id, "items")
        # The group's roots depend on what it is expanded over; a partial argument only where used.
        self.assertEdges(dag, [("items", "per_item.double"), ("per_item.double", "per_item.scale"),
                               ("factor", "per_item.scale")])
