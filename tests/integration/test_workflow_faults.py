"""Faults from ARM and the API server end each run in the right phase with a clear reason, and
nothing is lost: transient errors are retried in place, a failed operation fails the run, a
stuck or crash-looping rollout pauses it naming the workload, and rollback still works."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.upgrade.errors import RetryLater
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Action, Phase
from bot.workflow.approvals import Outcome
from bot.workflow.steps import Wait
from tests.integration.conftest_workflow import (
    APPROVER,
    CLUSTER,
    NEW,
    OLD,
    Env,
    assert_only_on,
    workflow_env,
)

CLUSTER_PUT = "*/managedClusters/*"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with workflow_env(tmp_path) as e:
        yield e


@pytest.mark.parametrize("status", [409, 429, 500])
def test_transient_arm_errors_on_the_put_are_retried_and_one_put_lands(env: Env,
                                                                      status: int) -> None:
    env.sim.arm.faults.add(verb="PUT", path=CLUSTER_PUT, status=status, retry_after=1, count=2)
    run = env.start()
    result = env.through(run.id, Action.START)
    assert result.phase == Phase.CANARY_READY
    assert len(env.accepted_puts()) == 1
    refused = [c for c in env.sim.arm.calls("PUT") if c.status == status]
    assert len(refused) == 2
    assert env.arm_state()["applied"] == [OLD, NEW]


def test_an_arm_operation_that_fails_fails_the_run_and_rollback_recovers(env: Env) -> None:
    env.sim.arm.fail_next_operation("InternalOperationError", "the control plane did not start")
    run = env.start()
    result = env.through(run.id, Action.START)
    assert result.wait is Wait.PERSON and result.phase == Phase.FAILED
    failed = env.store.get_run(run.id)
    assert "the control plane did not start" in (failed.pause_reason or "")
    assert "roll back" in (failed.pause_hint or "")
    result = env.through(run.id, Action.ROLLBACK)
    assert result.phase == Phase.ROLLED_BACK
    assert env.arm_state()["revisions"] == [OLD]
    assert env.kube.revisions() == [OLD]


def test_kubernetes_conflicts_and_server_errors_are_retried(env: Env) -> None:
    run = env.start()
    faults = env.kube.faults
    rules = [faults.add(verb="PATCH", path="/api/v1/namespaces/*", status=409, count=1),
             faults.add(verb="PUT", path="*/mutatingwebhookconfigurations/*", status=409,
                        count=1),
             faults.add(verb="PATCH", path="*/deployments/*", status=500, count=2),
             faults.add(verb="GET", path="/api/v1/pods", status=500, count=1)]
    result = env.through(run.id, Action.START, Action.ROLL, Action.COMPLETE)
    assert result.phase == Phase.COMPLETED
    assert_only_on(env, keep=NEW, gone=OLD)
    assert [r.hits for r in rules] == [1, 1, 2, 1]  # every fault was met, and got past
    waves = {e.what for e in env.store.audit_log(run_id=run.id)
             if e.what.startswith("rollout restart wave ")}
    total = len(env.store.get_run(run.id).plan["waves"])
    assert total > 0 and waves == {f"rollout restart wave {i}/{total}"
                                   for i in range(1, total + 1)}  # every wave, 500s or not


@pytest.mark.parametrize("fault,words", [("never-ready", "stuck"),
                                         ("crashloop", "CrashLoopBackOff")])
def test_a_bad_canary_sidecar_pauses_rolling_naming_the_workload_then_rollback_works(
        env: Env, fault: str, words: str) -> None:
    run = env.start()
    env.through(run.id, Action.START)
    env.kube.set_pod_fault(fault, NEW)
    result = env.through(run.id, Action.ROLL)
    assert result.wait is Wait.PERSON and result.phase == Phase.ROLLING
    paused = env.store.get_run(run.id)
    assert words in (paused.pause_reason or "")
    assert "/" in (paused.pause_reason or "") and " -n " in (paused.pause_reason or "")
    assert env.drive(run.id).wait is Wait.PERSON  # stays paused until a person acts
    result = env.through(run.id, Action.ROLLBACK)
    assert result.phase == Phase.ROLLED_BACK
    assert_only_on(env, keep=OLD, gone=NEW)


def test_an_approval_whose_gate_cannot_be_judged_is_not_recorded_and_can_be_repeated(
        env: Env) -> None:
    # Issue 10, recipe 2: the API server fails while the approver clicks Complete.
    run = env.start()
    result = env.through(run.id, Action.START, Action.ROLL)
    assert result.phase == Phase.AWAITING_DECISION
    waiting = env.store.get_run(run.id)
    env.kube.faults.add(verb="GET", path="/api/v1/pods", status=500, count=100)
    with pytest.raises(RetryLater):
        env.workflow.decide(run.id, Action.COMPLETE, APPROVER, waiting.version)
    assert env.store.approvals(run.id, Action.COMPLETE.value, waiting.version) == ()
    assert env.store.get_run(run.id).phase is Phase.AWAITING_DECISION
    assert not [e for e in env.store.audit_log(run_id=run.id) if e.kind is AuditKind.APPROVED
                and e.detail.get("action") == "complete"]
    env.kube.faults.clear()

    again = env.workflow.decide(run.id, Action.COMPLETE, APPROVER, waiting.version)

    assert again.outcome is Outcome.APPLIED and again.run.phase is Phase.COMPLETING
    tail = [(e.kind, e.actor) for e in env.store.audit_log(run_id=run.id)][-2:]
    assert tail == [(AuditKind.APPROVED, APPROVER), (AuditKind.PHASE_CHANGED, APPROVER)]
    assert env.drive(run.id).phase == Phase.COMPLETED


def test_every_refused_click_and_every_phase_change_is_in_the_audit(env: Env) -> None:
    # Issue 10, recipe 7: stale, out-of-turn and repeated clicks leave a reason behind, and
    # the phase changes that approvals make are in the audit like the bot's own.
    run = env.start()
    planned = env.store.get_run(run.id)
    env.workflow.decide(run.id, Action.START, APPROVER, planned.version)
    env.workflow.decide(run.id, Action.START, APPROVER, planned.version)  # stale now
    started = env.store.get_run(run.id)
    env.workflow.decide(run.id, Action.COMPLETE, APPROVER, started.version)  # out of turn
    refusals = [e.detail["verdict"] for e in env.store.audit_log(run_id=run.id)
                if e.kind is AuditKind.REFUSED]
    assert refusals == ["stale", "out_of_turn"]
    env.drive(run.id)
    changes = [e.what for e in env.store.audit_log(run_id=run.id)
               if e.kind is AuditKind.PHASE_CHANGED]
    history = [f"phase {c.to_phase.value}" for c in env.store.history(run.id)[1:]]
    assert changes == history and changes[:2] == ["phase starting", "phase canary_ready"]


def _pause_starting(env: Env) -> int:
    """A run whose start keeps failing on the API server until its patience runs out."""
    run = env.start()
    env.kube.faults.add(verb="GET", path="/api/v1/namespaces/aks-istio-system/pods",
                        status=503, count=10_000)
    assert env.drive(run.id).phase == Phase.PLANNED
    env.approve(run.id, Action.START)
    for _ in range(200):  # each try fails at once; the retry delays are not slept here
        result = env.workflow.advance(run.id)
        if env.store.get_run(run.id).paused:
            break
    paused = env.store.get_run(run.id)
    assert paused.phase is Phase.STARTING and paused.paused, result
    assert "Still failing after 30 tries" in (paused.pause_reason or "")
    assert "tries again at" in (paused.pause_hint or "")
    assert result.wait is Wait.TIME and result.delay > 0  # the bot comes back on its own
    assert paused.actions() == {Action.RETRY, Action.ROLLBACK, Action.CANCEL}
    return run.id


def test_a_start_paused_by_a_standing_fault_is_retried_from_the_card(env: Env) -> None:
    # Issue 10, recipe 1: once the cause is gone, Retry now goes on; nothing is repeated.
    run_id = _pause_starting(env)
    env.kube.faults.clear()
    retried = env.workflow.decide(run_id, Action.RETRY, APPROVER,
                                  env.store.get_run(run_id).version)
    assert retried.outcome is Outcome.APPLIED and not retried.run.paused
    assert env.drive(run_id).phase == Phase.CANARY_READY
    assert len(env.accepted_puts()) == 1


def test_the_bot_retries_a_paused_start_on_its_own_later(env: Env) -> None:
    run_id = _pause_starting(env)
    env.kube.faults.clear()
    assert env.workflow.advance(run_id).wait is Wait.TIME  # not due yet: nothing is tried
    real_now = env.workflow.now
    env.workflow.now = lambda: real_now() + timedelta(minutes=20)
    assert env.drive(run_id).phase == Phase.CANARY_READY
    assert not env.store.get_run(run_id).paused


@pytest.mark.parametrize("leave", [Action.CANCEL, Action.ROLLBACK])
def test_a_paused_start_can_give_the_cluster_back(env: Env, leave: Action) -> None:
    run_id = _pause_starting(env)
    env.kube.faults.clear()
    env.workflow.decide(run_id, leave, APPROVER, env.store.get_run(run_id).version)
    final = env.drive(run_id)
    assert final.phase == (Phase.CANCELLED if leave is Action.CANCEL else Phase.ROLLED_BACK)
    assert env.store.active_run(CLUSTER) is None  # the cluster is not locked any more
    if leave is Action.ROLLBACK:
        assert env.arm_state()["revisions"] == [OLD]


def test_a_pause_that_needs_a_person_is_not_retried_on_its_own(env: Env) -> None:
    # The bot's own retry of a transient pause meets a permanent error (403): from then on
    # the pause waits for a person instead of being tried again at every look.
    run_id = _pause_starting(env)
    env.kube.faults.clear()
    env.kube.faults.add(verb="GET", path="/api/v1/namespaces/aks-istio-system/pods",
                        status=403, count=10_000)
    real_now = env.workflow.now
    env.workflow.now = lambda: real_now() + timedelta(minutes=20)
    assert env.workflow.advance(run_id).wait is Wait.PERSON  # tried once: 403, paused
    paused = env.store.get_run(run_id)
    assert paused.paused and "Forbidden" in (paused.pause_reason or "")
    served = len(env.kube.request_log.records())
    again = env.workflow.advance(run_id)
    assert again.wait is Wait.PERSON and again.kind.value == "look"
    assert len(env.kube.request_log.records()) == served  # nothing was tried again
