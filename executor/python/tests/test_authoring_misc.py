"""Setup/teardown wiring, subdags, parse-time objects of providers and object storage,
and the helper modules Airflow's example DAGs import."""

from tests.test_authoring_support import AuthoringCase


class SetupTeardownTest(AuthoringCase):
    def test_context_manager_and_as_teardown(self):
        dag = self.load("""
import datetime
from airflow import DAG
from airflow.decorators import setup, task, task_group, teardown
from airflow.operators.bash import BashOperator

with DAG("st", start_date=datetime.datetime(2024, 1, 1), schedule=None) as dag:
    @setup
    def create():
        return "id"

    @teardown
    def delete(cluster):
        pass

    @task
    def work():
        pass

    with delete(create()):
        work()

    s = BashOperator(task_id="s", bash_command="true").as_setup()
    n = BashOperator(task_id="n", bash_command="true")
    t = BashOperator(task_id="t", bash_command="true").as_teardown(setups=s)
    s >> n >> t
""").only()
        self.assertEdges(dag, [("create", "delete"), ("create", "work"), ("work", "delete"),
                               ("s", "n"), ("n", "t"), ("s", "t")])
        self.assertTrue(dag.get_task("create").is_setup)
        self.assertTrue(dag.get_task("delete").is_teardown)
        self.assertEqual(dag.get_task("t").trigger_rule, "all_done_setup_success")
        with self.assertRaisesRegex(Exception, "Only setup/teardown tasks can be used as context managers."):
            self.load("""
import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator
with DAG("x", start_date=datetime.datetime(2024, 1, 1)) as dag:
    with EmptyOperator(task_id="e"):
        pass
""")

    def test_group_leaves_skip_teardowns(self):
        dag = self.load("""
import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.utils.task_group import TaskGroup
with DAG("g", start_date=datetime.datetime(2024, 1, 1), schedule=None) as dag:
    with TaskGroup("grp") as grp:
        up = EmptyOperator(task_id="up")
        train = EmptyOperator(task_id="train")
        down = EmptyOperator(task_id="down")
        up >> train >> down
        down.as_teardown(setups=up)
    grp >> EmptyOperator(task_id="end")
""").only()
        # The group's leaf is train, not its teardown (Airflow's TaskGroup.get_leaves).
        self.assertIn(("grp.train", "end"), self.edges(dag))
        self.assertNotIn(("grp.down", "end"), self.edges(dag))


class ParseTimeObjectsTest(AuthoringCase):
    def test_provider_helpers_and_object_storage_at_parse_time(self):
        loaded = self.load("""
import datetime
from airflow import DAG
from airflow.kubernetes.secret import Secret
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.slack.notifications.slack import send_slack_notification
from airflow.io.path import ObjectStoragePath

from airflow.providers.google.cloud.operators.dataproc import ClusterGenerator
secret = Secret("env", "PASSWORD", "db-secret", "password")
cluster = ClusterGenerator(project_id="p", num_workers=2).make()["config"]
base = ObjectStoragePath("s3://aws_default@bucket/data/")
with DAG("k", start_date=datetime.datetime(2024, 1, 1), schedule=None,
         on_failure_callback=send_slack_notification(text="failed")) as dag:
    KubernetesPodOperator(task_id="pod", image="python:3", secrets=[secret], cmds=["echo", str(base / "x.csv")])
""")
        dag = loaded.only()
        self.assertEqual(dag.get_task("pod").cmds, ["echo", "s3://aws_default@bucket/data/x.csv"])
        self.assertEqual(loaded.module.base.bucket, "bucket")
        with self.assertRaisesRegex(Exception, "is not available in lithoflow"):
            loaded.module.base.read_text()
        with self.assertRaisesRegex(Exception, "is not available in lithoflow"):
            dag.on_failure_callback({})
        # Parse-time uses of a provider helper give stubs; the same uses in a task raise.
        self.assertIn("ClusterGenerator", repr(loaded.module.cluster))
        with self.assertRaisesRegex(Exception, "ClusterGenerator.make \\(from airflow.providers.google"):
            loaded.module.ClusterGenerator(project_id="p").make()

    def test_subdags_are_listed_by_their_parent(self):
        loaded = self.load("""
import datetime
from airflow import DAG
from airflow.example_dags.subdags.subdag import subdag
from airflow.operators.subdag import SubDagOperator
args = {"owner": "x"}
with DAG("parent", start_date=datetime.datetime(2024, 1, 1), default_args=args, schedule="@once") as dag:
    SubDagOperator(task_id="section-1", subdag=subdag("parent", "section-1", args))
""")
        dag = loaded["parent"]
        self.assertEqual([d.dag_id for d in dag.subdags], ["parent.section-1"])
        self.assertEqual(sorted(dag.subdags[0].task_dict), [f"section-1-task-{i}" for i in range(1, 6)])
        self.assertEqual(dag.get_task("section-1")._lithoflow_kind, "unsupported")

    def test_common_compat_sdk_names(self):
        dag = self.load("""
from airflow.providers.common.compat.sdk import TriggerRule, timezone, BaseOperator
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
with DAG("c", start_date=timezone.datetime(2024, 1, 1), schedule=None) as dag:
    EmptyOperator(task_id="e", trigger_rule=TriggerRule.ALL_DONE)
""", version=3).only()
        self.assertEqual(dag.get_task("e").trigger_rule, "all_done")
        self.assertEqual(dag.start_date.tzinfo is not None, True)
