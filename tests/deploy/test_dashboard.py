"""deploy/grafana/mesh-upgrade-bot.json: every PromQL query names only metrics the bot exports
(read from the bot's own registry: counters with `_total`, histograms with `_bucket`, `_sum`
and `_count`), and it imports into Azure Managed Grafana with the Prometheus data source
chosen at import (a datasource template variable that every panel uses)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot.runtime.metrics import Metrics
from tests.deploy.manifests import DEPLOY

DASHBOARD = DEPLOY / "grafana" / "mesh-upgrade-bot.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
            "gauge": ("",), "info": ("_info",)}
# What in PromQL is not a metric name: strings (label values, regexes), label matchers,
# range and subquery selectors, and grouping or matching label lists.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
             "or", "unless", "offset", "inf", "nan"}
_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions and labels are not names)."""
    text = _STRINGS.sub('""', expr)
    for pattern in (_MATCHERS, _RANGES, _GROUPING):
        text = pattern.sub(" ", text)
    return {name for name in _NAME.findall(text) if name.lower() not in _KEYWORDS}


def exported() -> set[str]:
    """Every sample name the bot's registry exposes, by metric family type."""
    return {family.name + suffix for family in Metrics().registry.collect()
            for suffix in SUFFIXES[family.type]}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def queries(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target, and the metric of each label_values variable."""
    for panel in panels(data["panels"]):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in data["templating"]["list"]:
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else ""
        if (found := _LABEL_VALUES.search(text)) is not None:
            yield f"${variable['name']}", found[1]


@pytest.mark.parametrize(("expr", "names"), [
    ('histogram_quantile(0.95, sum by (le, step) (rate(a_seconds_bucket{job="x"}[5m])))',
     {"a_seconds_bucket"}),
    ('sum by (system, cause) (rate(errs_total{cause=~"thr.*|by"}[$__rate_interval])) > 0',
     {"errs_total"}),
    ("60 * sum(rate(x_count[1m])) / on (step) group_left (phase) y offset 5m", {"x_count", "y"}),
    ('max by (cluster) (side{cluster=~"$cluster"}) and ignoring (le) other', {"side", "other"}),
    ("count by (version) (build_info)", {"build_info"}),
])
def test_metric_names_are_read_out_of_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_every_query_of_the_dashboard_names_a_metric_the_bot_exports() -> None:
    known = exported()
    assert {"mesh_upgrade_build_info", "mesh_upgrade_runs_finished_total",
            "mesh_upgrade_step_duration_seconds_bucket", "mesh_upgrade_sidecars",
            "mesh_upgrade_api_errors_total"} <= known
    found = list(queries(dashboard()))
    assert len(found) >= 10
    unknown = {(where, name) for where, expr in found for name in metric_names(expr)
               if name not in known}
    assert unknown == set()
    used = {name for _, expr in found for name in metric_names(expr)}
    assert {"mesh_upgrade_runs_finished_total", "mesh_upgrade_step_duration_seconds_bucket",
            "mesh_upgrade_api_errors_total", "mesh_upgrade_sidecars"} <= used


def test_a_query_naming_a_metric_the_bot_does_not_export_is_caught() -> None:
    broken = dashboard()
    broken["panels"][1]["targets"][0]["expr"] = "sum(rate(mesh_upgrade_runs_total[5m]))"
    known = exported()
    assert [name for _, expr in queries(broken) for name in metric_names(expr)
            if name not in known] == ["mesh_upgrade_runs_total"]


def test_it_imports_into_managed_grafana_with_the_data_source_chosen_at_import() -> None:
    data = dashboard()
    assert data["uid"] and data["title"] and data["schemaVersion"] >= 36
    assert [i["pluginId"] for i in data["__inputs"]] == ["prometheus"]
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
        "datasource", "prometheus")
    shown = [p for p in panels(data["panels"]) if p["type"] != "row"]
    assert {json.dumps(p["datasource"]) for p in shown} == {
        json.dumps({"type": "prometheus", "uid": "${datasource}"})}
    ids = [p["id"] for p in panels(data["panels"])]
    assert len(ids) == len(set(ids))
