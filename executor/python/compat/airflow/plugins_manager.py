"""Airflow's ``AirflowPlugin`` (a plugin class defined in the DAGs folder is a plain class
here: lithoflow loads no plugins; the Lithops plugin's operators are built in)."""


class AirflowPluginException(Exception):
    pass


class AirflowPlugin:
    name = None
    source = None
    hooks = []
    executors = []
    macros = []
    admin_views = []
    flask_blueprints = []
    fastapi_apps = []
    fastapi_root_middlewares = []
    menu_links = []
    appbuilder_views = []
    appbuilder_menu_items = []
    global_operator_extra_links = []
    operator_extra_links = []
    external_views = []
    react_apps = []
    listeners = []
    timetables = []
    priority_weight_strategies = []
    operators = []
    sensors = []

    @classmethod
    def validate(cls):
        if not cls.name:
            raise AirflowPluginException("Your plugin needs a name.")

    @classmethod
    def on_load(cls, *args, **kwargs):
        pass


plugins = []


def ensure_plugins_loaded():
    pass
