"""Airflow's exceptions (airflow/exceptions.py of Airflow 2.10 and 3.1): the same names,
bases and messages, so DAG files and tasks that raise or catch them work unchanged."""

import warnings


class AirflowException(Exception):
    """Base class for all Airflow's errors."""

    status_code = 500

    def serialize(self):
        cls = self.__class__
        return f"{cls.__module__}.{cls.__name__}", (str(self),), {}


class AirflowBadRequest(AirflowException):
    status_code = 400


class AirflowNotFoundException(AirflowException):
    status_code = 404


class AirflowConfigException(AirflowException):
    pass


class AirflowSensorTimeout(AirflowException):
    pass


class AirflowRescheduleException(AirflowException):
    def __init__(self, reschedule_date):
        super().__init__()
        self.reschedule_date = reschedule_date


class InvalidStatsNameException(AirflowException):
    pass


class AirflowTaskTimeout(BaseException):
    pass


class AirflowTaskTerminated(BaseException):
    pass


class AirflowWebServerTimeout(AirflowException):
    pass


class AirflowSkipException(AirflowException):
    pass


class AirflowFailException(AirflowException):
    pass


class AirflowOptionalProviderFeatureException(AirflowException):
    pass


class AirflowInternalRuntimeError(BaseException):
    pass


class XComNotFound(AirflowException):
    def __init__(self, dag_id, task_id, key):
        super().__init__()
        self.dag_id = dag_id
        self.task_id = task_id
        self.key = key

    def __str__(self):
        return f'XComArg result from {self.task_id} at {self.dag_id} with key="{self.key}" is not found!'


class UnmappableOperator(AirflowException):
    pass


class XComForMappingNotPushed(AirflowException):
    def __str__(self):
        return "did not push XCom for task mapping"


class UnmappableXComTypePushed(AirflowException):
    def __init__(self, value, *values):
        super().__init__(value, *values)

    def __str__(self):
        typename = type(self.args[0]).__qualname__
        for arg in self.args[1:]:
            typename = f"{typename}[{type(arg).__qualname__}]"
        return f"unmappable return type {typename!r}"


class UnmappableXComLengthPushed(AirflowException):
    def __init__(self, value, max_length):
        super().__init__(value, max_length)
        self.value = value
        self.max_length = max_length

    def __str__(self):
        return f"unmappable return value length: {len(self.value)} > {self.max_length}"


class AirflowDagCycleException(AirflowException):
    pass


class AirflowDagDuplicatedIdException(AirflowException):
    def __init__(self, dag_id, incoming, existing):
        super().__init__(dag_id, incoming, existing)
        self.dag_id = dag_id
        self.incoming = incoming
        self.existing = existing

    def __str__(self):
        return f"Ignoring DAG {self.dag_id} from {self.incoming} - also found in {self.existing}"


class AirflowDagInconsistent(AirflowException):
    pass


class AirflowClusterPolicyViolation(AirflowException):
    pass


class AirflowClusterPolicySkipDag(AirflowException):
    pass


class AirflowClusterPolicyError(AirflowException):
    pass


class AirflowTimetableInvalid(AirflowException):
    pass


class DagNotFound(AirflowNotFoundException):
    pass


class DagCodeNotFound(AirflowNotFoundException):
    pass


class DagRunNotFound(AirflowNotFoundException):
    pass


class DagRunAlreadyExists(AirflowBadRequest):
    def __init__(self, dag_run=None, execution_date=None, run_id=None, *args):
        super().__init__(f"A DAG Run already exists for DAG {getattr(dag_run, 'dag_id', '')} with run id {run_id}")
        self.dag_run = dag_run


class DagFileExists(AirflowBadRequest):
    pass


class FailStopDagInvalidTriggerRule(AirflowException):
    """Raise when a dag has 'fail_stop' enabled yet has a non-default trigger rule."""

    _allowed_rules = ("all_success", "all_done_setup_success")

    @classmethod
    def check(cls, *, dag, trigger_rule):
        if dag is not None and getattr(dag, "fail_stop", False) and trigger_rule not in cls._allowed_rules:
            raise cls()

    def __str__(self):
        return "A 'fail-stop' dag can only have all_success trigger rule"


class DuplicateTaskIdFound(AirflowException):
    pass


class TaskAlreadyInTaskGroup(AirflowException):
    def __init__(self, task_id, existing_group_id, new_group_id):
        super().__init__(task_id, new_group_id)
        self.task_id = task_id
        self.existing_group_id = existing_group_id
        self.new_group_id = new_group_id

    def __str__(self):
        if self.existing_group_id is None:
            existing_group = "the DAG's root group"
        else:
            existing_group = f"group {self.existing_group_id!r}"
        return f"cannot add {self.task_id!r} to {self.new_group_id!r} (already in {existing_group})"


class SerializationError(AirflowException):
    pass


class ParamValidationError(AirflowException):
    pass


class TaskNotFound(AirflowNotFoundException):
    pass


class TaskInstanceNotFound(AirflowNotFoundException):
    pass


class NotMapped(Exception):
    pass


class PoolNotFound(AirflowNotFoundException):
    pass


class NoAvailablePoolSlot(AirflowException):
    pass


class DagConcurrencyLimitReached(AirflowException):
    pass


class TaskConcurrencyLimitReached(AirflowException):
    pass


class BackfillUnfinished(AirflowException):
    def __init__(self, message, ti_status=None):
        super().__init__(message)
        self.ti_status = ti_status


class AirflowFileParseException(AirflowException):
    def __init__(self, msg, file_path, parse_errors):
        super().__init__(msg)
        self.msg = msg
        self.file_path = file_path
        self.parse_errors = parse_errors


class AirflowUnsupportedFileTypeException(AirflowException):
    pass


class ConnectionNotUnique(AirflowException):
    pass


class VariableNotUnique(AirflowException):
    pass


class DownstreamTasksSkipped(AirflowException):
    def __init__(self, *, tasks):
        super().__init__()
        self.tasks = tasks


class DagRunTriggerException(AirflowException):
    def __init__(self, *, trigger_dag_id, dag_run_id=None, conf=None, logical_date=None, reset_dag_run=False,
                 skip_when_already_exists=False, wait_for_completion=False, allowed_states=None,
                 failed_states=None, poke_interval=60, deferrable=False):
        super().__init__()
        self.trigger_dag_id = trigger_dag_id
        self.dag_run_id = dag_run_id
        self.conf = conf
        self.logical_date = logical_date
        self.reset_dag_run = reset_dag_run
        self.skip_when_already_exists = skip_when_already_exists
        self.wait_for_completion = wait_for_completion
        self.allowed_states = allowed_states
        self.failed_states = failed_states
        self.poke_interval = poke_interval
        self.deferrable = deferrable


class TaskDeferred(BaseException):
    def __init__(self, *, trigger=None, method_name="execute", kwargs=None, timeout=None):
        super().__init__()
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = kwargs
        self.timeout = timeout

    def __repr__(self):
        return f"<TaskDeferred trigger={self.trigger} method={self.method_name}>"


class TaskDeferralError(AirflowException):
    pass


class TaskDeferralTimeout(AirflowException):
    pass


class PodMutationHookException(AirflowException):
    pass


class PodReconciliationError(AirflowException):
    pass


class RemovedInAirflow3Warning(DeprecationWarning):
    deprecated_since = None


class RemovedInAirflow4Warning(DeprecationWarning):
    deprecated_since = None


class AirflowProviderDeprecationWarning(DeprecationWarning):
    deprecated_provider_since = None


class DeserializingResultError(ValueError):
    pass


class UnknownExecutorException(ValueError):
    pass


class DeserializationError(Exception):
    pass


class AirflowInactiveAssetInInletOrOutletException(AirflowFailException):
    pass


def _warn(message, category=RemovedInAirflow3Warning, stacklevel=3):
    warnings.warn(message, category, stacklevel=stacklevel)
