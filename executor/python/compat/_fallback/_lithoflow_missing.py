"""lithoflow's fallback machinery for network and database libraries Airflow always installs
(``requests``, ``httpx``, ``sqlalchemy``) that DAG files import at module level but use only in
task code. Where the real package is not installed, ``import requests`` (and its submodules, and
any name in them) succeeds so that the DAG file loads; every call, instantiation or use raises
``MissingPackageError`` (an ``ImportError``) naming the package to install. Nothing ever pretends to
work. Installing the real package replaces it: ``<compat>/_fallback`` is at the END of ``sys.path``.
"""

import importlib.abc
import importlib.machinery
import sys
import types


class MissingPackageError(ImportError):
    """A fallback stand-in was used: the real package is needed."""


def error(package, pip_name, what):
    return MissingPackageError(
        "%s needs the Python package %r, which is not installed here (lithoflow's stand-in only lets "
        "`import %s` succeed so that the DAG file loads): install it where the tasks run, e.g. "
        "`pip install %s`" % (what, package, package, pip_name), name=package)


class _StubMeta(type):
    """Stand-in classes: any attribute is another stand-in, calling one raises."""

    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return stub(cls._lf_package, cls._lf_pip, "%s.%s" % (cls._lf_path, name))

    def __call__(cls, *args, **kwargs):
        raise error(cls._lf_package, cls._lf_pip, "%s(...)" % cls._lf_path)

    def __repr__(cls):
        return "<lithoflow stand-in %s (%s is not installed)>" % (cls._lf_path, cls._lf_package)


_STUBS = {}


def stub(package, pip_name, path):
    """The stand-in for ``path`` (``requests.exceptions.HTTPError``): an exception class, so that
    ``except`` clauses and subclasses at module level work."""
    found = _STUBS.get(path)
    if found is None:
        module, _, name = path.rpartition(".")
        found = _StubMeta(name, (Exception,), {"_lf_package": package, "_lf_pip": pip_name,
                                               "_lf_path": path, "__module__": module})
        _STUBS[path] = found
    return found


def _module_getattr(module):
    def __getattr__(name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError("module %r has no attribute %r" % (module.__name__, name))
        return stub(module.__lithoflow_missing__, module.__lithoflow_pip__, "%s.%s" % (module.__name__, name))

    return __getattr__


def become(module_name, pip_name):
    """Makes the (already importing) module ``module_name`` a stand-in package."""
    module = sys.modules[module_name]
    _make(module, module_name.split(".")[0], pip_name)
    _install_finder()


def _make(module, package, pip_name):
    module.__lithoflow_missing__ = package
    module.__lithoflow_pip__ = pip_name
    module.__getattr__ = _module_getattr(module)
    if not hasattr(module, "__path__"):
        module.__path__ = []


class _Loader(importlib.abc.Loader):
    def __init__(self, package, pip_name):
        self.package, self.pip_name = package, pip_name

    def create_module(self, spec):
        return types.ModuleType(spec.name, "lithoflow's stand-in for %s (not installed)" % spec.name)

    def exec_module(self, module):
        _make(module, self.package, self.pip_name)


class _Finder(importlib.abc.MetaPathFinder):
    """Submodules (``requests.adapters``) of a stand-in package are stand-ins too."""

    def find_spec(self, fullname, path=None, target=None):
        top = sys.modules.get(fullname.split(".")[0])
        package = getattr(top, "__lithoflow_missing__", None)
        if package is None or "." not in fullname:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(package, top.__lithoflow_pip__),
                                              is_package=True)


def _install_finder():
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
