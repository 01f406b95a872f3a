"""`kubectl rollout restart` in waves, watched to done by kubectl's rules, against the simulated
cluster: new pods come up on the revision the tag or label now points at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.kube.restarts import RESTARTED_AT, restart_stamp
from bot.upgrade.cluster_facts import WorkloadRef
from tests.integration.cluster_sim import CANARY, STABLE, SimCluster, running

WEB = WorkloadRef("Deployment", "frontend", "web")
CATALOG = WorkloadRef("Deployment", "catalog", "catalog-api")
PAYMENTS = WorkloadRef("Deployment", "payments", "payments-api")
ORDERS_API = WorkloadRef("Deployment", "orders", "orders-api")
ORDERS_DB = WorkloadRef("StatefulSet", "orders", "orders-db")
LOG_AGENT = WorkloadRef("DaemonSet", "monitoring", "log-agent")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimCluster]:
    with running(tmp_path) as env:
        env.start_canary()
        yield env


def revisions_of(env: SimCluster, workload: WorkloadRef) -> dict[str, int]:
    census = env.cluster.census.take(workload.namespace)
    return dict(census.by_workload[workload].revisions)


def test_wave_after_tag_moves_brings_new_pods_on_the_new_revision(env: SimCluster) -> None:
    env.cluster.tags.set("prod-stable", CANARY)
    assert revisions_of(env, WEB) == {STABLE: 3}

    report = env.cluster.restarts.run_wave([WEB, CATALOG], restart_stamp(), concurrency=2)

    assert report.stuck is None and set(report.done) == {WEB, CATALOG}
    assert set(report.patched) == {WEB, CATALOG}
    assert revisions_of(env, WEB) == {CANARY: 3}
    assert revisions_of(env, CATALOG) == {CANARY: 2}
    assert 2 <= report.requests_per_workload < 10


def test_statefulsets_and_daemonsets_roll_to_done_too(env: SimCluster) -> None:
    env.cluster.namespaces.relabel("orders", CANARY)
    env.cluster.namespaces.relabel("monitoring", CANARY)

    report = env.cluster.restarts.run_wave([ORDERS_DB, LOG_AGENT, ORDERS_API], restart_stamp(),
                                           concurrency=3)

    assert report.stuck is None and set(report.done) == {ORDERS_DB, LOG_AGENT, ORDERS_API}
    assert revisions_of(env, ORDERS_DB) == {CANARY: 3}
    assert revisions_of(env, LOG_AGENT) == {CANARY: 3}
    assert revisions_of(env, ORDERS_API) == {CANARY: 2}


def test_repeating_a_wave_with_its_restart_id_restarts_nothing_twice(env: SimCluster) -> None:
    env.cluster.namespaces.relabel("payments", CANARY)
    stamp = restart_stamp()
    first = env.cluster.restarts.run_wave([PAYMENTS, ORDERS_API], stamp)
    patches = env.requests(verb="patch", resource="deployments")
    pods = env.pod_names("payments")

    again = env.cluster.restarts.run_wave([PAYMENTS, ORDERS_API], stamp)

    assert first.patched == (PAYMENTS, ORDERS_API) and again.patched == ()
    assert set(again.done) == {PAYMENTS, ORDERS_API}
    assert env.requests(verb="patch", resource="deployments") == patches == 2
    assert env.pod_names("payments") == pods
    template = env.cluster.restarts.read(PAYMENTS)["spec"]["template"]["metadata"]
    assert template["annotations"][RESTARTED_AT] == stamp


def test_paused_deployment_is_skipped_with_kubectls_reason(env: SimCluster) -> None:
    env.cluster.restarts.apps.patch_namespaced_deployment(
        "payments-api", "payments", {"spec": {"paused": True}})

    report = env.cluster.restarts.run_wave([PAYMENTS, ORDERS_API], restart_stamp())

    assert report.skipped == ((PAYMENTS, "can't restart paused deployment (run rollout resume "
                                         "first)"),)
    assert report.done == (ORDERS_API,)
    assert RESTARTED_AT not in (env.cluster.restarts.read(PAYMENTS)["spec"]["template"]["metadata"]
                                .get("annotations") or {})


def test_stuck_rollout_stops_the_wave_naming_the_workload(env: SimCluster) -> None:
    env.sim.set_pod_fault("never-ready", CANARY)
    env.cluster.restarts.apps.patch_namespaced_deployment(
        "payments-api", "payments", {"spec": {"progressDeadlineSeconds": 30}})
    env.cluster.namespaces.relabel("payments", CANARY)

    report = env.cluster.restarts.run_wave([PAYMENTS, ORDERS_API, WEB], restart_stamp(),
                                           concurrency=1, progress_timeout=30)

    assert report.stuck is not None and report.stuck.workload == PAYMENTS
    assert report.stuck.reason == 'deployment "payments-api" exceeded its progress deadline'
    assert report.not_started == (ORDERS_API, WEB) and report.done == ()
    assert env.requests(verb="patch", name="orders-api") == 0


def test_rollout_without_progress_times_out_and_stops_the_wave(env: SimCluster) -> None:
    env.sim.set_pod_fault("never-ready", CANARY)
    env.cluster.namespaces.relabel("orders", CANARY)

    report = env.cluster.restarts.run_wave([ORDERS_API, WEB], restart_stamp(), concurrency=1,
                                           progress_timeout=1.0)

    assert report.stuck is not None and report.stuck.workload == ORDERS_API
    assert report.stuck.reason.startswith("no progress for 1 s")
    assert report.not_started == (WEB,)


def test_wave_watches_instead_of_polling_each_workload(env: SimCluster) -> None:
    env.cluster.tags.set("prod-stable", CANARY)
    for ns in env.cluster.namespaces.injection():
        if ns.label == STABLE:
            env.cluster.namespaces.relabel(ns.name, CANARY)
    env.sim.request_log.clear()
    workloads = [WEB, CATALOG, PAYMENTS, ORDERS_API, ORDERS_DB, LOG_AGENT]

    report = env.cluster.restarts.run_wave(workloads, restart_stamp(), concurrency=3)

    assert report.stuck is None and len(report.done) == 6
    served = env.sim.request_log.records()
    gets = [r for r in served if r.verb == "get" and r.resource in ("deployments", "statefulsets",
                                                                    "daemonsets")]
    assert len(gets) == 6  # one read before each restart, none while waiting
    assert len([r for r in served if r.verb == "watch"]) <= 3 * 2
    assert len(served) == report.requests
