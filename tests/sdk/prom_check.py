"""Parses a Prometheus exposition (stdin) with the official Python client's text
parser, checks what the format requires of histograms and families, and prints
every sample as JSON for the Rust test to assert on. Exits non-zero on any error."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
families = list(text_string_to_metric_families(text))
seen = set()
samples = []
for fam in families:
    assert fam.name not in seen, f"family {fam.name} appears twice"
    seen.add(fam.name)
    assert fam.type in ("counter", "gauge", "histogram", "summary", "untyped"), fam.type
    series = {}
    for s in fam.samples:
        assert not math.isnan(s.value), f"{s.name} is NaN"
        if fam.type == "counter":
            assert s.value >= 0, f"negative counter {s.name}"
        samples.append({"name": s.name, "labels": s.labels, "value": s.value, "type": fam.type})
        if fam.type == "histogram":
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            series.setdefault(key, {"buckets": [], "count": None})
            if s.name.endswith("_bucket"):
                series[key]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
    for key, h in series.items():
        b = sorted(h["buckets"])
        assert b, f"{fam.name}{key} has no buckets"
        assert b[-1][0] == math.inf, f"{fam.name}{key} has no +Inf bucket"
        assert all(x[1] <= y[1] for x, y in zip(b, b[1:])), f"{fam.name}{key} buckets not cumulative"
        assert b[-1][1] == h["count"], f"{fam.name}{key}: +Inf bucket != count"
print(json.dumps({"families": len(families), "samples": samples}))
