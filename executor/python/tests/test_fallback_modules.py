"""lithoflow's kubernetes client stand-in and the import-only stand-ins (requests, httpx,
sqlalchemy, yaml, jinja2, ...) in compat/_fallback."""

import sys

from tests.test_fallback_support import FallbackCase


class KubernetesTest(FallbackCase):
    def test_models_take_keywords_and_give_dicts(self):
        self.mod("kubernetes")
        from kubernetes.client import models as k8s

        res = k8s.V1ResourceRequirements(requests={"cpu": "1"}, limits={"memory": "1Gi"})
        self.assertEqual(res.requests, {"cpu": "1"})
        self.assertIsNone(res.claims)  # a field never given reads as None, as the real models'
        vol = k8s.V1Volume(name="data", host_path=k8s.V1HostPathVolumeSource(path="/tmp"))
        self.assertEqual(vol.to_dict(), {"name": "data", "host_path": {"path": "/tmp"}})
        self.assertEqual(vol.to_dict(serialize=True), {"name": "data", "hostPath": {"path": "/tmp"}})
        env = [k8s.V1EnvVar(name="A", value_from=k8s.V1EnvVarSource(
            secret_key_ref=k8s.V1SecretKeySelector(name="s", key="k")))]
        self.assertEqual(env[0].value_from.secret_key_ref.key, "k")
        self.assertEqual(k8s.V1Toleration(key="a", operator="Exists"), k8s.V1Toleration(key="a", operator="Exists"))
        self.assertNotEqual(k8s.V1Toleration(key="a"), k8s.V1Toleration(key="b"))
        aff = k8s.V1Affinity(node_affinity=k8s.V1NodeAffinity(
            required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(node_selector_terms=[
                k8s.V1NodeSelectorTerm(match_expressions=[k8s.V1NodeSelectorRequirement(
                    key="pool", operator="In", values=["a"])])])))
        self.assertEqual(aff.to_dict()["node_affinity"]["required_during_scheduling_ignored_during_execution"]
                         ["node_selector_terms"][0]["match_expressions"][0]["values"], ["a"])
        self.assertIs(k8s.V1LocalObjectReference, k8s.V1LocalObjectReference)
        pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="p"))
        pod.spec = k8s.V1PodSpec(containers=[])
        self.assertEqual(pod.to_dict(), {"metadata": {"name": "p"}, "spec": {"containers": []}})
        self.assertTrue(k8s.V1beta1CronJob and k8s.V2HorizontalPodAutoscaler and k8s.CoreV1Event)
        with self.assertRaises(TypeError):
            k8s.V1EnvVar("A", "b")
        with self.assertRaises(AttributeError):
            k8s.NotAModel

    def test_import_paths(self):
        self.mod("kubernetes")
        from kubernetes import client
        from kubernetes.client import V1Volume
        from kubernetes.client.models import V1HTTPGetAction
        from kubernetes.client.models.v1_volume_mount import V1VolumeMount
        from kubernetes.client.rest import ApiException

        self.assertIs(client.V1Volume, V1Volume)
        self.assertEqual(V1VolumeMount(name="v", mount_path="/d").mount_path, "/d")
        self.assertEqual(V1HTTPGetAction(path="/", port=80).port, 80)
        self.assertTrue(issubclass(ApiException, Exception))

    def test_talking_to_a_cluster_needs_the_real_package(self):
        kubernetes = self.mod("kubernetes")
        from kubernetes import client, config

        for call in (config.load_incluster_config, config.load_kube_config, client.CoreV1Api,
                     client.ApiClient):
            with self.subTest(call=call):
                with self.assertRaises(ImportError) as cm:
                    call()
                self.assertIn("pip install kubernetes", str(cm.exception))
        self.assertIn("fallback", kubernetes.__version__)


class ImportHookTest(FallbackCase):
    def test_stand_ins_share_one_import_hook_installed_when_the_machinery_is_imported(self):
        # The loader imports _lithoflow_missing in its warm parent: a DAG file importing stand-ins
        # then changes no import hook, and its child can be reused for the next file.
        self.mod("_lithoflow_missing")
        before = list(sys.meta_path)
        self.mod("requests")
        self.mod("kubernetes")
        from kubernetes.client.models.v1_pod import V1Pod  # noqa: F401
        import requests.adapters  # noqa: F401

        self.assertEqual(sys.meta_path, before)


class MissingPackageTest(FallbackCase):
    def test_import_succeeds_and_every_use_raises(self):
        for name, pip in (("requests", "requests"), ("httpx", "httpx"), ("sqlalchemy", "SQLAlchemy"),
                          ("yaml", "PyYAML"), ("jinja2", "Jinja2"), ("croniter", "croniter"),
                          ("slugify", "python-slugify"), ("tabulate", "tabulate"), ("tenacity", "tenacity")):
            with self.subTest(name=name):
                mod = self.mod(name)
                with self.assertRaises(ImportError) as cm:
                    mod.get("http://example.com")
                self.assertIn("pip install %s" % pip, str(cm.exception))
                self.assertIn(repr(name), str(cm.exception))
                self.assertEqual(cm.exception.name, name)
                with self.assertRaises(ImportError):
                    mod.Client().post("x")

    def test_dateutil_modules_the_stand_in_does_not_implement(self):
        self.mod("dateutil")
        from dateutil.rrule import DAILY, rrule

        with self.assertRaises(ImportError) as cm:
            list(rrule(DAILY, count=3))
        self.assertIn("pip install python-dateutil", str(cm.exception))

    def test_submodules_exception_classes_and_subclasses(self):
        self.mod("requests")
        from requests.adapters import HTTPAdapter
        from requests.exceptions import HTTPError
        import requests
        import sqlalchemy.orm  # noqa: F401

        class RetryingAdapter(HTTPAdapter):  # a DAG helper's subclass at module level
            pass

        with self.assertRaises(ImportError):
            RetryingAdapter()
        # an except clause naming a stand-in exception class lets other exceptions through
        with self.assertRaises(ValueError):
            try:
                raise ValueError("x")
            except (HTTPError, requests.exceptions.RequestException):
                self.fail("a stand-in exception class caught a ValueError")
        self.assertIs(requests.exceptions.HTTPError, HTTPError)
        self.mod("yaml")
        from yaml import SafeLoader

        class TagLoader(SafeLoader):
            pass

        with self.assertRaises(ImportError):
            TagLoader.add_constructor("!env", print)
        self.mod("tenacity")
        from tenacity import retry, stop_after_attempt

        with self.assertRaises(ImportError):  # a decorator at module level: a clear import error
            retry(stop=stop_after_attempt(3))
        with self.assertRaises(AttributeError):
            requests.__wrapped__  # dunder names are not stand-ins
