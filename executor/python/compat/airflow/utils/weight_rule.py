"""Airflow's ``WeightRule`` (airflow/utils/weight_rule.py)."""

import enum


class WeightRule(str, enum.Enum):
    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"
    ABSOLUTE = "absolute"

    @classmethod
    def is_valid(cls, weight_rule):
        return weight_rule in _ALL_RULES

    @classmethod
    def all_weight_rules(cls):
        return set(_ALL_RULES)

    def __str__(self):
        return self.value


_ALL_RULES = frozenset(rule.value for rule in WeightRule)
