"""Airflow 1.10's ``airflow.operators.sensors`` (removed in Airflow 2): its sensors by their
1.10 names, resolved to lithoflow's sensors or to provider stubs."""

import importlib

_NAMES = {
    "BaseSensorOperator": "airflow.sensors.base.BaseSensorOperator",
    "ExternalTaskSensor": "airflow.sensors.external_task.ExternalTaskSensor",
    "ExternalTaskMarker": "airflow.sensors.external_task.ExternalTaskMarker",
    "TimeSensor": "airflow.sensors.time_sensor.TimeSensor",
    "TimeDeltaSensor": "airflow.sensors.time_delta.TimeDeltaSensor",
    "S3KeySensor": "airflow.providers.amazon.aws.sensors.s3.S3KeySensor",
    "S3PrefixSensor": "airflow.providers.amazon.aws.sensors.s3.S3PrefixSensor",
    "SqlSensor": "airflow.providers.common.sql.sensors.sql.SqlSensor",
    "HttpSensor": "airflow.providers.http.sensors.http.HttpSensor",
    "HdfsSensor": "airflow.providers.apache.hdfs.sensors.hdfs.HdfsSensor",
    "WebHdfsSensor": "airflow.providers.apache.hdfs.sensors.web_hdfs.WebHdfsSensor",
    "HivePartitionSensor": "airflow.providers.apache.hive.sensors.hive_partition.HivePartitionSensor",
    "MetastorePartitionSensor": "airflow.providers.apache.hive.sensors.metastore_partition.MetastorePartitionSensor",
    "NamedHivePartitionSensor": "airflow.providers.apache.hive.sensors.named_hive_partition.NamedHivePartitionSensor",
}


def __getattr__(name):
    target = _NAMES.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = target.rsplit(".", 1)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
