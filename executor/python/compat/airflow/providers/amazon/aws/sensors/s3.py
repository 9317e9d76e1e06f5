"""The Amazon provider's ``S3KeySensor`` (airflow/providers/amazon/aws/sensors/s3.py):
waits for keys in a bucket (lithoflow's engine pokes S3 with the ``aws_conn_id``
connection). Other names of this module are stubs of the provider."""

from airflow.sensors.base import BaseSensorOperator


class S3KeySensor(BaseSensorOperator):
    """Waits for one or multiple keys (a file-like instance on S3) to be present in a S3 bucket."""

    template_fields = ("bucket_key", "bucket_name")
    _lithoflow_base_kind = "sensor:s3_key"

    def __init__(
        self,
        *,
        bucket_key,
        bucket_name=None,
        wildcard_match=False,
        check_fn=None,
        aws_conn_id="aws_default",
        verify=None,
        deferrable=False,
        use_regex=False,
        metadata_keys=None,
        region_name=None,
        botocore_config=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.bucket_name = bucket_name
        self.bucket_key = bucket_key
        self.wildcard_match = wildcard_match
        self.check_fn = check_fn
        self.aws_conn_id = aws_conn_id
        self.verify = verify
        self.deferrable = deferrable
        self.use_regex = use_regex
        self.metadata_keys = metadata_keys if metadata_keys else ["Size"]
        self.region_name = region_name
        self.botocore_config = botocore_config


class S3KeySensorAsync(S3KeySensor):
    def __init__(self, **kwargs):
        super().__init__(deferrable=True, **kwargs)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    from airflow._lithoflow.providers import _make_operator_stub

    value = _make_operator_stub(name, __name__)
    globals()[name] = value
    return value
