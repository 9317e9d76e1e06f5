"""placeholder: replaced below"""
import unittest

import common


class Monitoring(unittest.TestCase):
    def test_01_list_dags(self):
        from airflow_client.client import DAGApi

        api = DAGApi(common.v2_client())
        got = common.wait_for(
            "the monitoring DAGs",
            lambda: (lambda d: d if {"mon_etl", "mon_paused"} <= {x.dag_id for x in d.dags} else None)(
                api.get_dags(tags=["monitoring"])
            ),
        )
        self.assertEqual(sorted(d.dag_id for d in got.dags), ["mon_etl", "mon_paused"])


if __name__ == "__main__":
    unittest.main()
