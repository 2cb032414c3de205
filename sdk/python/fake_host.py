"""A fake switchboard host for testing a Python plugin's logic in plain CPython.

`componentize-py bindings` writes the contract's Python types (dataclasses, enums)
into `gen/`; the host's functions there are stubs. `install()` replaces them with this
fake: settings (as JSON text), counters with windows on a clock the test moves,
captured log lines, target tags and the request's shape; and (contract 0.3.0) model
answers the test sets, deterministic embeddings and a key-value store.
"""
import json

from componentize_py_types import Err
from wit_world.imports import host, types


class FakeHost:
    def __init__(self, settings=None, name="test", now=1_767_225_600):
        self.settings = {k: json.dumps(v) for k, v in (settings or {}).items()}
        self.name, self.now = name, now
        self.counters, self.logs, self.tags, self.prices = {}, [], {}, {}
        self.shape = types.RequestShape(images=False, audio=False, tools=False, json_output=False, messages=1)
        self.answers, self.asked, self.kv = {}, [], {}

    def advance(self, secs):
        self.now += secs

    def _key(self, key, window):
        return (key, window, 0 if window == 0 else self.now - self.now % window)

    def install(self):
        """Makes this the host the plugin's `host.*` calls reach; returns it."""

        def calendar_period(period, zone):
            raise Err(f"the fake host does not compute calendar periods ({period}, {zone})")

        def counter_add(key, delta, window):
            k = self._key(key, window)
            self.counters[k] = self.counters.get(k, 0) + delta
            return self.counters[k]

        fns = {
            "setting": lambda name: self.settings.get(name),
            "log": lambda level, message: self.logs.append((level, message)),
            "counter_add": counter_add,
            "counter_get": lambda key, window: self.counters.get(self._key(key, window), 0),
            "window_remaining_secs": lambda w: 2**64 - 1 if w == 0 else w - self.now % w,
            "plugin_name": lambda: self.name,
            "route_prices": lambda route: self.prices.get(route, (0.0, 0.0)),
            "calendar_period": calendar_period,
            "target_tags": lambda route, provider, model: self.tags.get((route, provider, model), []),
            "current_request_shape": lambda: self.shape,
        }
        for name, fn in fns.items():
            setattr(host, name, fn)
        self._install_03()
        return self

    def answer(self, route, text):
        """What `models.infer` answers on `route` (others fail the call)."""
        self.answers[route] = text
        return self

    def _install_03(self):
        """`models` and `keyvalue` (contract 0.3.0), where the bindings have them."""
        try:
            from wit_world.imports import keyvalue, models
        except ImportError:
            return

        def infer(route, messages, params):
            self.asked.append((route, messages, params))
            if route not in self.answers:
                raise Err(f"the fake host has no answer for route `{route}`")
            usage = types.TokenUsage(prompt_tokens=10, completion_tokens=1, cached_prompt_tokens=0)
            return types.InferAnswer(text=self.answers[route], finish_reason="stop", model=route, usage=usage)

        def embed(route, texts):
            out = []
            for t in texts:
                v = [0.0] * 16
                for i, b in enumerate(t.encode()):
                    v[(b + i) % 16] += 1.0
                n = sum(x * x for x in v) ** 0.5 or 1.0
                out.append([x / n for x in v])
            return out

        def moderate(route, texts):
            self.asked.append((route, texts, None))
            return [types.Moderation(flagged=False, scores=[]) for _ in texts]

        models.infer, models.embed, models.moderate = infer, embed, moderate
        keyvalue.get = lambda key: self.kv.get(key)
        keyvalue.set = lambda key, value, ttl: self.kv.__setitem__(key, value)
        keyvalue.remove = lambda key: self.kv.pop(key, None)
