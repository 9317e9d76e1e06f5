"""A DAG file that imports what Airflow always installs (pendulum, python-dateutil, the kubernetes
client, requests) loads through the real loader process with lithoflow's stand-ins: the loader is
started without site-packages (``python -S``), as on a machine where none of them is installed."""

import os
import shutil
import subprocess
import tempfile

from tests.test_loader_support import Loader, LoaderCase

DAG_FILE = """
import pendulum
import requests
from dateutil.relativedelta import relativedelta, MO
from dateutil import parser as dparser
from kubernetes.client import models as k8s
from airflow import DAG
from airflow.operators.python import PythonOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

import dateutil, jinja2, kubernetes
for mod in (pendulum, requests, dateutil, kubernetes, jinja2):
    assert "_fallback" in mod.__file__, mod.__file__

START = pendulum.datetime(2024, 1, 31, tz="Europe/Amsterdam")


def fetch():
    return requests.get("http://example.com").text


with DAG("fallback_k8s", start_date=START + relativedelta(months=1, weekday=MO(+1)), schedule="@daily",
         template_undefined=jinja2.StrictUndefined,
         tags=[pendulum.time(6, 30).format("HH:mm"), dparser.parse("Jan 5 2024").strftime("%Y%m%d")]) as dag:
    pod = KubernetesPodOperator(
        task_id="pod", name="p", image="busybox",
        container_resources=k8s.V1ResourceRequirements(requests={"cpu": "1"}),
        volumes=[k8s.V1Volume(name="v", host_path=k8s.V1HostPathVolumeSource(path="/tmp"))],
        volume_mounts=[k8s.V1VolumeMount(name="v", mount_path="/d")],
        env_vars=[k8s.V1EnvVar(name="A", value="b")],
        tolerations=[k8s.V1Toleration(key="k", operator="Exists")],
        image_pull_secrets=[k8s.V1LocalObjectReference(name="s")],
    )
    PythonOperator(task_id="fetch", python_callable=fetch) >> pod
"""


class _NoSiteLoader(Loader):
    """PY-B's Loader, with ``python -S``: no site-packages, so only the stand-ins can answer."""

    def __init__(self, dags_folder, env=None):
        real_popen = subprocess.Popen

        def popen(args, **kw):
            return real_popen([args[0], "-S"] + list(args[1:]), **kw)

        subprocess.Popen = popen
        try:
            super().__init__(dags_folder, env)
        finally:
            subprocess.Popen = real_popen


class FallbackLoaderTest(LoaderCase):
    def setUp(self):
        self.folder = os.path.realpath(tempfile.mkdtemp(prefix="lithoflow-fallback-test-"))
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.loader = _NoSiteLoader(self.folder)
        self.addCleanup(self.loader.close)

    def test_a_dag_file_using_the_stand_ins_loads(self):
        self.write("k8s_dag.py", DAG_FILE)
        res = self.loader.load("k8s_dag.py")
        self.assertTrue(res["ok"], res)
        (dag,) = res["dags"]
        self.assertEqual(dag["dag_id"], "fallback_k8s")
        toml = dag["toml"]
        # 2024-01-31 + 1 month = 2024-02-29 (a Thursday), then the next Monday: 2024-03-04 in Amsterdam
        self.assertEqual(toml["start_date"], {"$datetime": "2024-03-03T23:00:00+00:00"})
        self.assertEqual(toml["timezone"], "Europe/Amsterdam")
        self.assertEqual(toml["tags"], ["06:30", "20240105"])
        self.assertEqual(sorted(toml["tasks"]), ["fetch", "pod"])
        self.assertEqual(toml["tasks"]["pod"]["upstream"], ["fetch"])
        self.assertTrue(dag["tasks"]["pod"]["unsupported"])
        self.assertEqual(dag["tasks"]["pod"]["operator"], "KubernetesPodOperator")

    def test_using_a_network_stand_in_at_parse_time_is_an_import_error_naming_the_package(self):
        self.write("net_dag.py", """
            # airflow dag
            import requests
            CONFIG = requests.get("http://config.example.com").json()
            """)
        res = self.loader.load("net_dag.py")
        self.assertFalse(res["ok"])
        self.assertEqual(res["error"]["type"], "MissingPackageError")
        self.assertIn("pip install requests", res["error"]["message"])
        self.assertEqual(res["error"]["line"], 3)
