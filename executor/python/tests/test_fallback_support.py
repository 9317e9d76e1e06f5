"""Imports lithoflow's stand-ins from compat/_fallback for test_fallback*.py, even where the real
package is installed on this machine (python-dateutil, requests, ... often are): for the time of a
test class, the stand-ins replace the real modules in ``sys.modules`` and ``_fallback`` is first on
``sys.path``; afterwards everything is put back."""

import importlib
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
FALLBACK = os.path.join(os.path.dirname(HERE), "compat", "_fallback")
PACKAGES = ("pendulum", "dateutil", "kubernetes", "requests", "httpx", "sqlalchemy", "yaml", "jinja2", "croniter",
            "slugify", "tabulate", "tenacity", "_lithoflow_missing")


def _ours(name):
    return name.split(".")[0] in PACKAGES


class FallbackCase(unittest.TestCase):
    """``self.mod(name)`` is the stand-in module ``name``."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._saved_modules = {k: sys.modules.pop(k) for k in list(sys.modules) if _ours(k)}
        cls._saved_path = list(sys.path)
        cls._saved_meta = list(sys.meta_path)
        sys.path.insert(0, FALLBACK)

    @classmethod
    def tearDownClass(cls):
        for k in [k for k in sys.modules if _ours(k)]:
            del sys.modules[k]
        sys.modules.update(cls._saved_modules)
        sys.path[:] = cls._saved_path
        sys.meta_path[:] = cls._saved_meta
        super().tearDownClass()

    def mod(self, name):
        m = importlib.import_module(name)
        self.assertTrue(os.path.realpath(m.__file__ or "").startswith(os.path.realpath(FALLBACK)),
                        (name, m.__file__))
        return m
