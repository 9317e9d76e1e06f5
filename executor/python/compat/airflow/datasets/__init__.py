"""Airflow's datasets (Airflow 2, airflow/datasets/__init__.py) and assets (Airflow 3,
airflow/sdk/definitions/asset): ``Dataset(uri)``, ``Asset(name, uri)``, aliases, and the
``&``/``|`` conditions ``DatasetAll``/``DatasetAny`` (``AssetAll``/``AssetAny``), with
``.objects`` holding their operands."""

from urllib.parse import urlsplit


class BaseDataset:
    """Protocol for all dataset triggers to use in ``DAG(schedule=...)``."""

    def __bool__(self):
        return True

    def __or__(self, other):
        if not isinstance(other, BaseDataset):
            return NotImplemented
        return DatasetAny(self, other)

    def __and__(self, other):
        if not isinstance(other, BaseDataset):
            return NotImplemented
        return DatasetAll(self, other)

    def iter_datasets(self):
        return iter(())

    def iter_assets(self):
        return self.iter_datasets()


def _sanitize_uri(uri):
    if not isinstance(uri, str):
        raise TypeError(f"uri must be a string, not {type(uri).__name__}")
    if not uri:
        raise ValueError("Dataset name cannot be empty")
    if uri.isspace():
        raise ValueError("Dataset URI cannot be just whitespace")
    if not uri.isascii():
        raise ValueError("Dataset URI must only consist of ASCII characters")
    parsed = urlsplit(uri)
    if parsed.scheme and parsed.scheme.lower() == "airflow":
        raise ValueError("Dataset scheme 'airflow' is reserved")
    return uri


class Asset(BaseDataset):
    """A representation of data asset dependencies between workflows (Airflow 3)."""

    def __init__(self, name=None, uri=None, *, group="asset", extra=None, watchers=None):
        if name is None and uri is None:
            raise TypeError("Asset() requires either 'name' or 'uri'")
        if name is None:
            name = uri
        elif uri is None:
            uri = name
        self.name = name
        self.uri = _sanitize_uri(uri)
        self.group = group
        self.extra = extra or {}
        self.watchers = list(watchers or [])

    def __eq__(self, other):
        if not isinstance(other, Asset):
            return NotImplemented
        return (self.name, self.uri) == (other.name, other.uri)

    def __hash__(self):
        return hash((self.name, self.uri))

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r})"

    @property
    def normalized_uri(self):
        return self.uri

    def iter_datasets(self):
        yield self.uri, self

    def iter_assets(self):
        yield (self.name, self.uri), self

    def iter_dataset_aliases(self):
        return iter(())

    def evaluate(self, statuses):
        return statuses.get(self.uri, False)

    def as_expression(self):
        return self.uri

    @classmethod
    def ref(cls, *, name=None, uri=None):
        return AssetRef(name=name, uri=uri)


class Dataset(Asset):
    """A representation of data dependencies between workflows (Airflow 2)."""

    def __init__(self, uri=None, extra=None, *, name=None, group="asset", watchers=None):
        super().__init__(name=name if name is not None else uri, uri=uri if uri is not None else name,
                         group=group, extra=extra, watchers=watchers)

    def __repr__(self):
        return f"Dataset(uri={self.uri!r})"


class AssetRef(BaseDataset):
    def __init__(self, name=None, uri=None):
        self.name = name
        self.uri = uri


class AssetAlias(BaseDataset):
    """A representation of asset (dataset) alias which is used to create assets in runtime."""

    def __init__(self, name, group="asset"):
        self.name = name
        self.group = group

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"

    def __eq__(self, other):
        return isinstance(other, AssetAlias) and other.name == self.name

    def __hash__(self):
        return hash(self.name)


DatasetAlias = AssetAlias


class _AssetBooleanCondition(BaseDataset):
    agg_func = all

    def __init__(self, *objects):
        if not all(isinstance(o, BaseDataset) for o in objects):
            raise TypeError("expect dataset expressions in condition")
        self.objects = list(objects)

    def iter_datasets(self):
        for o in self.objects:
            yield from o.iter_datasets()

    def iter_assets(self):
        for o in self.objects:
            yield from o.iter_assets()

    def __eq__(self, other):
        return type(self) is type(other) and self.objects == other.objects

    def __hash__(self):
        return id(self)


class AssetAny(_AssetBooleanCondition):
    """Use to combine assets schedule references in an "and" relationship."""

    agg_func = any

    def __or__(self, other):
        if not isinstance(other, BaseDataset):
            return NotImplemented
        return type(self)(*self.objects, other)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"


class AssetAll(_AssetBooleanCondition):
    """Use to combine assets schedule references in an "or" relationship."""

    agg_func = all

    def __and__(self, other):
        if not isinstance(other, BaseDataset):
            return NotImplemented
        return type(self)(*self.objects, other)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"


class DatasetAny(AssetAny):
    pass


class DatasetAll(AssetAll):
    pass


# The ``|``/``&`` operators of Airflow 2 build DatasetAny/DatasetAll; Airflow 3's names
# are the same classes' bases, so isinstance checks on either name work.
BaseAsset = BaseDataset

__all__ = [
    "Asset",
    "AssetAlias",
    "AssetAll",
    "AssetAny",
    "BaseAsset",
    "BaseDataset",
    "Dataset",
    "DatasetAlias",
    "DatasetAll",
    "DatasetAny",
]
