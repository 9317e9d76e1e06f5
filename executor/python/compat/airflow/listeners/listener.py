"""``airflow.listeners.listener``: ``get_listener_manager`` for plugins that register
listeners. lithoflow loads no plugins: registering is accepted and does nothing."""


class ListenerManager:
    def add_listener(self, listener):
        """Accepted; lithoflow calls no listeners."""

    def clear(self):
        """Accepted."""

    @property
    def has_listeners(self):
        return False


_MANAGER = ListenerManager()


def get_listener_manager():
    return _MANAGER
