#!/usr/bin/env python3
"""Test helper: parses Prometheus text format from standard input with prometheus-client's own parser
(independent of the Swift code that wrote it) and prints one JSON object per sample:
{"name": ..., "labels": {...}, "value": ...}. Exits non-zero if the text does not parse."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        print(json.dumps({"name": sample.name, "labels": sample.labels, "value": sample.value}))
