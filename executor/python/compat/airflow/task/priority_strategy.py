"""Airflow's priority weight strategies (airflow/task/priority_strategy.py): ``weight_rule``
may be one of these objects or a custom subclass."""


class PriorityWeightStrategy:
    """Priority weight strategy interface."""

    def get_weight(self, ti):
        raise NotImplementedError

    def serialize(self):
        return {}

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))


class _AbsolutePriorityWeightStrategy(PriorityWeightStrategy):
    _lithoflow_rule = "absolute"


class _DownstreamPriorityWeightStrategy(PriorityWeightStrategy):
    _lithoflow_rule = "downstream"


class _UpstreamPriorityWeightStrategy(PriorityWeightStrategy):
    _lithoflow_rule = "upstream"


airflow_priority_weight_strategies = {
    "absolute": _AbsolutePriorityWeightStrategy,
    "downstream": _DownstreamPriorityWeightStrategy,
    "upstream": _UpstreamPriorityWeightStrategy,
}


def validate_and_load_priority_weight_strategy(priority_weight_strategy):
    if isinstance(priority_weight_strategy, str):
        return airflow_priority_weight_strategies[priority_weight_strategy]()
    return priority_weight_strategy
