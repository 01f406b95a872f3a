"""The plan and the gates, from hand-made observations: target choice, namespace moves with and
without tags, restart waves in scope, and what each gate names when something is left."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.upgrade.cluster_facts import (
    Census,
    HealthReport,
    NamespaceInjection,
    RevisionTag,
    WorkloadHealth,
    WorkloadRef,
    WorkloadSidecars,
)
from bot.upgrade.errors import GateRefused, GiveUp
from bot.upgrade.mesh_facts import UpgradeOptions
from bot.upgrade.plan import (
    Observation,
    Plan,
    Settings,
    check_complete,
    check_rolled_back,
    choose_target,
    make_plan,
    namespace_moves,
    restart_waves,
)

OLD, NEW = "asm-1-22", "asm-1-23"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SETTINGS = Settings("aks1", out_of_scope=frozenset({"kube-system", "mesh-upgrade-bot"}),
                    wave_size=2)


def ns(name: str, label: str | None, revision: str | None, tag: str | None = None,
       injection: str | None = None) -> NamespaceInjection:
    return NamespaceInjection(name, label, revision, tag, injection)


def deploy(namespace: str, name: str, revision: str, pods: int = 1,
           kind: str = "Deployment") -> WorkloadSidecars:
    return WorkloadSidecars(WorkloadRef(kind, namespace, name), pods, pods, 0, {revision: pods},
                            {}, 0)


def census(*workloads: WorkloadSidecars) -> Census:
    return Census(0, 0, {}, {}, {w.workload.namespace: {} for w in workloads},
                  {w.workload: w for w in workloads}, {}, (), 1)


INJECTIONS = (ns("default", OLD, OLD), ns("web", "prod-stable", OLD, "prod-stable"),
              ns("legacy", None, None, injection="enabled"),
              ns("mesh-upgrade-bot", OLD, OLD))
SEEN = Observation(INJECTIONS, census(
    deploy("default", "a", OLD), deploy("default", "b", OLD), deploy("default", "c", OLD),
    deploy("web", "w", OLD), deploy("mesh-upgrade-bot", "bot", OLD),
    deploy("default", "job-x", OLD, kind="Job")),
    (RevisionTag("prod-stable", OLD, ("web",)), RevisionTag("", NEW, ())))


def test_target_is_the_lowest_offered_and_to_must_be_offered() -> None:
    options = UpgradeOptions(OLD, ("asm-1-24", NEW), {})
    assert choose_target(options, None) == NEW
    assert choose_target(options, "asm-1-24") == "asm-1-24"
    with pytest.raises(GiveUp, match="not an upgrade AKS offers"):
        choose_target(options, "asm-1-25")
    with pytest.raises(GiveUp, match="Kubernetes"):
        choose_target(UpgradeOptions(OLD, (), {}, reason="upgrade Kubernetes first"), None)


def test_with_tags_tagged_namespaces_follow_and_others_relabel_to_the_stable_tag() -> None:
    moves = {m.namespace: (m.via, m.to) for m in namespace_moves(SETTINGS, INJECTIONS, OLD, NEW)}
    assert moves == {"default": ("relabel", "prod-stable"), "web": ("tag", "prod-stable")}


def test_without_tags_namespaces_relabel_to_the_revision_and_existing_tags_still_move() -> None:
    plain = Settings("aks1", use_tags=False)
    moves = {m.namespace: (m.via, m.to) for m in namespace_moves(plain, INJECTIONS[:2], OLD, NEW)}
    assert moves == {"default": ("relabel", NEW), "web": ("tag", "prod-stable")}
    plan = make_plan(plain, UpgradeOptions(OLD, (NEW,), {}), SEEN)
    assert plan.retag == ("prod-stable",) and not plan.canary_at_start()


def test_waves_hold_in_scope_restartable_workloads_by_namespace_never_the_bot() -> None:
    waves = restart_waves(SETTINGS, SEEN.census, OLD, {"default", "web"})
    names = [[w.name for w in wave] for wave in waves.waves]
    assert names == [["a", "b"], ["c"], ["w"]]
    assert [w.name for w in waves.jobs] == ["job-x"] and waves.manual == ()
    assert [w.name for w in waves.left] == ["bot"]


def test_plan_round_trips_through_json() -> None:
    plan = make_plan(SETTINGS, UpgradeOptions(OLD, (NEW,), {}), SEEN)
    assert Plan.from_json(plan.to_json()) == plan
    assert plan.retag == ("prod-stable",) and plan.workload_count() == 4
    assert any("bot" in n for n in plan.notes)


def test_complete_gate_names_pods_tags_namespaces_and_unhealthy_workloads() -> None:
    sick = WorkloadHealth(WorkloadRef("Deployment", "web", "w"), 2, 1,
                          crashlooping=("w-1/istio-proxy",))
    with pytest.raises(GateRefused) as refused:
        check_complete(OLD, SEEN, HealthReport(T0, (sick,)))
    text = " ".join(refused.value.remaining)
    for expected in ("deployment/a -n default: 1 pod(s) on asm-1-22", "tag prod-stable",
                     "namespace default", "CrashLoopBackOff"):
        assert expected in text


def test_gates_pass_when_nothing_is_left() -> None:
    done = Observation((ns("default", "prod-stable", NEW, "prod-stable"),),
                       census(deploy("default", "a", NEW)),
                       (RevisionTag("prod-stable", NEW, ()), RevisionTag("prod-canary", NEW, ())))
    check_complete(OLD, done, HealthReport(T0, ()))
    with pytest.raises(GateRefused, match="prod-stable"):
        check_rolled_back(NEW, "prod-canary", done)
