"""Example custom strategy, the same in Rust (`../strategy-canary`), Python and
JavaScript (`../canary-js`): a canary split. `percent` of requests (setting, default
10) try the last target first; the rest keep the config order.

Build (componentize-py 0.25):  componentize-py -d wit -w strategy componentize app -o canary.wasm
Test the logic in CPython:     componentize-py -d wit -w strategy bindings gen
                               PYTHONPATH=gen:../../../sdk/python python3 -m unittest -v
Test the component:            switchboard plugin test canary.wasm --cases ../canary-cases.json

componentize-py's names: the world's own exports (`validate-settings`) are methods of a
class `WitWorld`, an exported interface (`load-balancer`) a class named after it; an
`Err(...)` raised is the WIT `result`'s error; u64 values are Python ints, enums
`Enum` members (`Health.OPEN`), options `None` or the value.
"""
import json

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import RouteRequest, TargetStats
from wit_world.imports import host


def percent_of(value: str) -> int:
    """A `percent` setting's JSON text, or the error that refuses the config."""
    try:
        p = json.loads(value)
    except ValueError:
        p = None
    if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p <= 100:
        raise Err(f"percent must be a whole number from 0 to 100, not {value}")
    return p


class WitWorld(wit_world.WitWorld):
    def validate_settings(self, settings: list[tuple[str, str]]) -> None:
        for name, value in settings:
            if name != "percent":
                raise Err(f"unknown setting '{name}' (this strategy has percent)")
            percent_of(value)


class LoadBalancer(exports.LoadBalancer):
    def wants_request_text(self) -> bool:
        return False

    def select(self, req: RouteRequest, targets: list[TargetStats]) -> list[int]:
        value = host.setting("percent")
        percent = 10 if value is None else percent_of(value)
        order = list(range(len(targets)))
        # `random` comes from the host, so this stays a pure function of its input.
        if len(order) > 1 and req.random % 100 < percent:
            order.insert(0, order.pop())
        return order
