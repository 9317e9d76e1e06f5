"""Airflow's ``WeightRule`` (airflow/utils/weight_rule.py)."""

import enum


class WeightRule(str, enum.Enum):
    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"
    ABSOLUTE = "absolute"

    @classmethod
    def is_valid(cls, weight_rule):
        return weight_rule in cls.all_weight_rules()

    @classmethod
    def all_weight_rules(cls):
        return {rule.value for rule in cls}

    def __str__(self):
        return self.value
