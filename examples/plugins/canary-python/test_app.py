"""The canary's logic in plain CPython, against the fake host (sdk/python)."""
import unittest

from componentize_py_types import Err
from fake_host import FakeHost
from wit_world.imports.types import Health, RouteRequest, TargetStats

import app


def target(provider, model):
    return TargetStats(provider, model, 1, 0, Health.HEALTHY, 0, 0, 0, 0.0, 0.0, 0.0, None, None, None)


def first(random):
    req = RouteRequest("m", 0, random, 100, None, False, None)
    return app.LoadBalancer().select(req, [target("stable", "v1"), target("canary", "v2")])[0]


class Canary(unittest.TestCase):
    def test_percent_of_requests_go_to_the_canary_first(self):
        FakeHost({"percent": 25}).install()
        self.assertEqual([first(r) for r in range(100)].count(1), 25)
        FakeHost().install()
        self.assertEqual([first(r) for r in range(100)].count(1), 10, "the default")

    def test_a_bad_percent_is_refused(self):
        with self.assertRaises(Err) as e:
            app.WitWorld().validate_settings([("percent", "500")])
        self.assertIn("0 to 100", e.exception.value)
        with self.assertRaises(Err) as e:
            app.WitWorld().validate_settings([("percnt", "5")])
        self.assertIn("unknown setting 'percnt'", e.exception.value)


if __name__ == "__main__":
    unittest.main()
