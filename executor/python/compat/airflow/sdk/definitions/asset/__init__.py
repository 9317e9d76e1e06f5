"""Airflow 3's assets (``airflow.sdk.definitions.asset``)."""

from airflow.datasets import (  # noqa: F401
    Asset,
    AssetAlias,
    AssetAll,
    AssetAny,
    AssetRef,
    BaseAsset,
)


class AssetWatcher:
    """Watches an asset with a trigger (event-driven scheduling; kept for imports)."""

    def __init__(self, name, trigger):
        self.name = name
        self.trigger = trigger
