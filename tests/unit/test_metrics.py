"""/metrics from the workflow's events, the census and the adapters' failures; the event log's
levels (a run looked at again while it waits logs at DEBUG, failures at WARNING)."""

from __future__ import annotations

import logging
import platform

import pytest

from bot.config.identity import version
from bot.runtime.events import EventLog
from bot.runtime.metrics import Metrics
from bot.upgrade.cluster_facts import Census
from bot.upgrade.errors import Cause, error_cause
from bot.upgrade.kinds import AuditKind, StepKind
from bot.workflow.events import RunEvent, StepEvent


def census(versions: dict[str, dict[str, int]]) -> Census:
    return Census(0, 0, {}, {}, {}, {}, {}, (), 1, versions_by_revision=versions)


def moved(run_id: int, to: str, came_from: str = "rolling") -> RunEvent:
    return RunEvent(AuditKind.PHASE_CHANGED.value, run_id, "c", to, f"phase {to}", None,
                    {"from": came_from, "why": "test"})


def finished(run_id: int, phase: str, kind: StepKind, wait: str = "no",
             seconds: float = 0.2) -> RunEvent:
    return RunEvent(StepEvent.STEP_FINISHED.value, run_id, "c", phase, "did", None,
                    {"step": kind.value, "wait": wait, "seconds": seconds})


def started(run_id: int, phase: str) -> RunEvent:
    return RunEvent(StepEvent.STEP_STARTED.value, run_id, "c", phase, "started")


def test_build_info_names_the_installed_version() -> None:
    metrics = Metrics()
    assert metrics.registry.get_sample_value(
        "mesh_upgrade_build_info", {"version": version(),
                                    "python": platform.python_version()}) == 1


def test_runs_finished_count_each_outcome_once_when_the_run_ends() -> None:
    metrics = Metrics()
    sink = EventLog(metrics)
    for event in (moved(1, "verifying"), moved(1, "completed", "completing"),
                  moved(2, "rolled_back", "rolling_back"), moved(3, "patch_done"),
                  moved(4, "failed", "starting")):
        sink(event)

    def outcome(name: str) -> float | None:
        return metrics.registry.get_sample_value("mesh_upgrade_runs_finished_total",
                                                 {"outcome": name})

    assert (outcome("completed"), outcome("rolled_back"), outcome("cancelled"),
            outcome("failed")) == (2, 1, 0, 1)


def test_the_sidecar_gauge_shows_the_last_census_only() -> None:
    metrics = Metrics()
    metrics.observe_census("aks-a", census({"asm-1-22": {"1.22.5": 7}, "asm-1-23": {"1.23.2": 3}}))
    metrics.observe_census("aks-b", census({"asm-1-23": {"1.23.2": 4}}))
    metrics.observe_census("aks-a", census({"asm-1-23": {"1.23.2": 10}}))

    def pods(cluster: str, revision: str, proxy: str) -> float | None:
        return metrics.registry.get_sample_value(
            "mesh_upgrade_sidecars", {"cluster": cluster, "revision": revision, "version": proxy})

    assert pods("aks-a", "asm-1-23", "1.23.2") == 10
    assert pods("aks-a", "asm-1-22", "1.22.5") is None  # gone from the cluster, gone here
    assert pods("aks-b", "asm-1-23", "1.23.2") == 4


def test_step_durations_are_labelled_by_phase_and_step_kind_and_looks_are_not_steps() -> None:
    metrics = Metrics()
    sink = EventLog(metrics)
    sink(finished(1, "rolling", StepKind.RESTART_WAVE, seconds=2.0))
    sink(finished(1, "rolling", StepKind.RESTART_WAVE, seconds=4.0))
    sink(finished(1, "rolling", StepKind.LOOK))

    def value(name: str, step: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"phase": "rolling", "step": step})

    assert value("mesh_upgrade_step_duration_seconds_count", "restart_wave") == 2
    assert value("mesh_upgrade_step_duration_seconds_sum", "restart_wave") == 6.0
    assert value("mesh_upgrade_step_duration_seconds_count", "look") is None


def test_api_errors_are_counted_by_system_and_cause_and_tokens_are_entra_s() -> None:
    metrics = Metrics()
    metrics.counter_of("arm")(Cause.THROTTLED)
    metrics.counter_of("arm")(Cause.TOKEN)
    metrics.counter_of("kubernetes")(error_cause(503))

    def errors(system: str, cause: str) -> float | None:
        return metrics.registry.get_sample_value("mesh_upgrade_api_errors_total",
                                                 {"system": system, "cause": cause})

    assert errors("arm", "throttled") == 1
    assert errors("entra", "token") == 1 and errors("arm", "token") == 0
    assert errors("kubernetes", "server") == 1
    assert errors("slack", "network") == 0  # every series exists before its first error


@pytest.mark.parametrize(("status", "cause"), [
    (None, Cause.NETWORK), (429, Cause.THROTTLED), (401, Cause.UNAUTHORIZED),
    (403, Cause.FORBIDDEN), (404, Cause.NOT_FOUND), (409, Cause.CONFLICT),
    (412, Cause.CONFLICT), (400, Cause.INVALID), (408, Cause.TIMEOUT), (502, Cause.SERVER),
])
def test_causes_come_from_the_http_status(status: int | None, cause: Cause) -> None:
    assert error_cause(status) is cause


def test_a_run_looked_at_again_while_it_waits_logs_at_debug(
        caplog: pytest.LogCaptureFixture) -> None:
    sink = EventLog()
    with caplog.at_level(logging.DEBUG, logger="bot.events"):
        sink(started(1, "starting"))
        sink(finished(1, "starting", StepKind.ARM_PUT, "operation"))
        sink(started(1, "starting"))
        sink(finished(1, "starting", StepKind.ARM_POLL, "operation"))
        sink(started(1, "starting"))
        sink(finished(1, "starting", StepKind.ARM_POLL, "operation"))
        sink(started(1, "starting"))
        sink(finished(1, "starting", StepKind.ARM_DONE))
        sink(started(1, "starting"))
        sink(RunEvent(AuditKind.PAUSED.value, 1, "c", "starting", "paused"))
    assert [(r.event, r.levelname) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("step_started", "INFO"), ("step_finished", "INFO"),
        ("step_started", "DEBUG"), ("step_finished", "INFO"),
        ("step_started", "DEBUG"), ("step_finished", "DEBUG"),
        ("step_started", "DEBUG"), ("step_finished", "INFO"),
        ("step_started", "INFO"), ("paused", "WARNING")]


def test_fleet_runs_under_way_are_a_gauge_read_at_each_scrape() -> None:
    metrics = Metrics()
    under_way = [("global", "soaking", "dev"), ("eu", "running", "prod")]
    metrics.observe_state(dict, lambda: True, lambda: list(under_way))

    def fleet(name: str, phase: str, ring: str) -> float | None:
        return metrics.registry.get_sample_value(
            "mesh_upgrade_fleet_runs", {"fleet": name, "phase": phase, "ring": ring})

    assert fleet("global", "soaking", "dev") == 1 and fleet("eu", "running", "prod") == 1
    under_way[0] = ("global", "awaiting_promotion", "dev")
    assert fleet("global", "soaking", "dev") is None
    assert fleet("global", "awaiting_promotion", "dev") == 1
