"""lithoflow's fallback machinery for libraries Airflow always installs that DAG files import at
module level but mostly use in task code, and that have no small correct stand-in: network and
database clients (``requests``, ``httpx``, ``sqlalchemy``), ``yaml``, ``jinja2`` (DAG files pass
``jinja2.StrictUndefined`` as ``template_undefined``, which lithoflow ignores), ``croniter``,
``slugify``, ``tabulate``, ``tenacity``. Where the real package is not installed, ``import
requests`` (and its submodules, and any name in them) succeeds so that the DAG file loads; every
call or instantiation raises ``MissingPackageError`` (an ``ImportError``) naming the package to
install. Nothing ever pretends to work. Installing the real package replaces it:
``<compat>/_fallback`` is at the END of ``sys.path``.
"""

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


class _Loader(object):
    def __init__(self, package, pip_name):
        self.package, self.pip_name = package, pip_name

    def create_module(self, spec):
        return types.ModuleType(spec.name, "lithoflow's stand-in for %s (not installed)" % spec.name)

    def exec_module(self, module):
        _make(module, self.package, self.pip_name)


# Other stand-ins' submodule handlers: {package prefix: function(fullname) -> ModuleSpec or None}
_HANDLERS = {}


def register(prefix, handler):
    """Lets ``handler`` answer for modules under ``prefix`` (kubernetes.client.models.v1_*)."""
    _HANDLERS[prefix] = handler


class _Finder(object):
    """One meta-path finder (installed once, when this module is imported: the loader imports it
    in its warm parent so that a DAG file importing a stand-in changes no import hook):
    submodules (``requests.adapters``) of a stand-in package are stand-ins too, and registered
    handlers answer for their packages."""

    def find_spec(self, fullname, path=None, target=None):
        for prefix, handler in _HANDLERS.items():
            if fullname.startswith(prefix):
                spec = handler(fullname)
                if spec is not None:
                    return spec
        if "." not in fullname:
            return None
        top = sys.modules.get(fullname.split(".")[0])
        package = getattr(top, "__lithoflow_missing__", None)
        if package is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(package, top.__lithoflow_pip__),
                                              is_package=True)

    def invalidate_caches(self):
        pass


def _install_finder():
    if not any(type(f).__name__ == "_Finder" and type(f).__module__ == __name__ for f in sys.meta_path):
        sys.meta_path.append(_Finder())


_install_finder()
