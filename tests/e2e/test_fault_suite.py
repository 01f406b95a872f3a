"""The standing fault suite (issue 10): whole upgrade runs of the bot as a real process against
meshsim, with faults from ARM, the Kubernetes API server and Slack (4xx, 5xx, 429 with
Retry-After, dropped connections, latency, failed ARM operations, lost acks) and SIGKILLs at
many points of a run, each followed by a new process on the same database.

Every scenario is driven to its end through the simulated channel and must show: the right
final phase (and the pause or failure it went through, with its reason); every approval and
phase change in the audit and in the run's thread; one accepted ARM PUT per revision change;
no workload restarted twice in one wave; nobody told "nothing was done" about something that
was done; the cluster on the revision the run ended on. The suite reports its own tally
(`fault suite: N scenarios, K kills, P passed; ...`): written to fault-suite-tally.txt in
pytest's base temp directory when the session ends, and printed at the end of the terminal
summary by tests/e2e/conftest.py (with or without -s, with or without xdist).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.slack.wording.phrases import Subject
from bot.slack.wording.runs import reply_of
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Action, Phase
from bot.upgrade.records import Run
from meshsim.sim import MeshSim
from tests.e2e.fault_trial import (
    SPEED,
    Condition,
    Hook,
    Move,
    OnPause,
    Trial,
    assert_cluster_matches,
    assert_every_fault_was_met,
    assert_no_put_repeated,
    assert_no_workload_restarted_twice_in_a_wave,
    assert_nobody_told_anything_untrue,
    assert_phase_changes_and_approvals_are_audited,
    assert_thread_has_every_approval_and_phase_change,
    drive,
    retry_when_fixed,
    roll_back,
)
from tests.e2e.slack_harness import BOB
from tests.integration.conftest_workflow import NEW

CLUSTER_PATH = "*/managedClusters/aks-sandbox"  # the managedCluster itself (GET and PUT)
OPERATION = "*/operations/*"  # the Azure-AsyncOperation polled after a PUT
TALLY = "fault-suite-tally.txt"


@dataclass(frozen=True)
class Scenario:
    name: str
    hooks: Mapping[str, Hook] = field(default_factory=dict)  # "before:roll", "after:command"
    kills: Mapping[str, Condition] = field(default_factory=dict)  # point -> when to kill
    when: Mapping[str, tuple[Condition, Hook]] = field(default_factory=dict)  # timed faults
    decide: Action = Action.COMPLETE  # what bob or carol choose after the soak
    ends: Phase = Phase.COMPLETED
    puts: int = 2  # accepted ARM PUTs: one per revision change
    said: str | None = None  # words the run's pause or failure must have recorded
    on_pause: OnPause = retry_when_fixed
    on_failed: OnPause = roll_back
    check: Callable[[Trial, Run], None] | None = None
    bug: str | None = None  # a product bug: the exact recipe and what goes wrong

    def param(self) -> Any:
        marks = [pytest.mark.xfail(strict=True, reason=self.bug)] if self.bug else []
        return pytest.param(self, id=self.name, marks=marks)


# --- small builders -------------------------------------------------------------------------


def arm(**rule: Any) -> Hook:
    return lambda t: t.arm_fault(**rule)


def kube(**rule: Any) -> Hook:
    return lambda t: t.kube_fault(**rule)


def slack(**rule: Any) -> Hook:
    return lambda t: t.slack_fault(**rule)


def fail_next_arm_operation(message: str) -> Hook:
    return lambda t: t.sim.arm.fail_next_operation("InternalOperationError", message)


def kill_now(point: str) -> Hook:
    return lambda t: t.kill(point)


def phase_is(phase: Phase) -> Condition:
    return lambda t: t.phase() is phase


def said_in_audit(trial: Trial, run: Run, words: str) -> bool:
    return any(words in e.what or words in json.dumps(e.detail)
               for e in trial.store.audit_log(run_id=run.id, limit=100_000))


def never_through(phase: Phase) -> Callable[[Trial, Run], None]:
    def check(trial: Trial, run: Run) -> None:
        assert phase not in [c.to_phase for c in trial.store.history(run.id)], phase
    return check


def went_through(phase: Phase) -> Callable[[Trial, Run], None]:
    def check(trial: Trial, run: Run) -> None:
        assert phase in [c.to_phase for c in trial.store.history(run.id)], phase
    return check


# --- ARM ------------------------------------------------------------------------------------

def retry_else_roll_back(trial: Trial, run: Run) -> Move | None:
    if Action.RETRY in run.actions():
        return Move(BOB, Action.RETRY)
    return roll_back(trial, run)


def no_dead_end(trial: Trial, run: Run) -> Move | None:
    """Fail at once when a pause can only repeat itself: ARM refuses what the bot asks."""
    assert "ARM refused" not in (run.pause_reason or ""), \
        f"dead end in {run.phase}: {run.pause_reason}"
    return retry_when_fixed(trial, run)


ARM = [
    Scenario("arm-put-429-retry-after-is-waited-out-and-one-put-lands",
             {"before:start": arm(verb="PUT", path=CLUSTER_PATH, status=429, retry_after=1,
                                  count=2)}),
    Scenario("arm-put-503-twice-is-retried-and-one-put-lands",
             {"before:start": arm(verb="PUT", path=CLUSTER_PATH, status=503, count=2)}),
    Scenario("arm-put-409-another-operation-is-retried",
             {"before:complete": arm(verb="PUT", path=CLUSTER_PATH, status=409, count=1)}),
    Scenario("arm-put-connection-dropped-is-sent-again-once",
             {"before:start": arm(verb="PUT", path=CLUSTER_PATH, drop=True, count=1)}),
    Scenario("arm-slow-put-on-complete-is-waited-for",
             {"before:complete": arm(verb="PUT", path=CLUSTER_PATH, latency=2.0, count=1)}),
    Scenario("arm-cluster-reads-503-while-starting-are-retried",
             {"before:start": arm(verb="GET", path=CLUSTER_PATH, status=503, count=1)}),
    Scenario("arm-operation-polls-dropped-are-polled-again",
             {"before:start": arm(verb="GET", path=OPERATION, drop=True, count=2)}),
    Scenario("arm-operation-polls-500-during-rollback-are-polled-again",
             {"before:rollback": arm(verb="GET", path=OPERATION, status=500, count=2)},
             decide=Action.ROLLBACK, ends=Phase.ROLLED_BACK),
    Scenario("arm-upgrade-profiles-429-while-planning-is-retried",
             {"before:command": arm(verb="GET", path="*/meshUpgradeProfiles*", status=429,
                                    retry_after=1, count=1)}),
    Scenario("arm-put-403-pauses-naming-the-permission-then-retry-completes",
             {"before:start": arm(verb="PUT", path=CLUSTER_PATH, status=403, count=1)},
             said="managedClusters/write"),
    Scenario("arm-put-400-on-rollback-pauses-then-retry-rolls-back",
             {"before:rollback": arm(verb="PUT", path=CLUSTER_PATH, status=400, count=1)},
             decide=Action.ROLLBACK, ends=Phase.ROLLED_BACK, said="ARM refused"),
    Scenario("arm-failed-start-operation-fails-the-run-then-rollback-recovers",
             {"before:start": fail_next_arm_operation("the control plane did not start")},
             ends=Phase.ROLLED_BACK, said="the control plane did not start",
             check=went_through(Phase.FAILED)),
    # ARM's goal is [asm-1-23] once the complete was sent, so a rollback PUT would be refused:
    # the run pauses in completing, and Retry now sends the complete again.
    Scenario("arm-failed-complete-operation-pauses-and-retry-now-completes",
             {"before:complete": fail_next_arm_operation("istiod-asm-1-22 would not go")},
             ends=Phase.COMPLETED, puts=3, said="istiod-asm-1-22 would not go",
             on_failed=retry_else_roll_back, on_pause=no_dead_end,
             check=never_through(Phase.FAILED)),
]

# --- Kubernetes -----------------------------------------------------------------------------

def clear_once_told(user: str, words: str) -> Hook:
    """The cause goes away once `user` was told `words` (so the next click can work)."""
    def hook(trial: Trial) -> None:
        trial.wait_answer(user, words)
        trial.clear_faults()
    return hook


KUBE = [
    Scenario("kube-restart-patches-500-are-retried-without-a-second-restart",
             {"before:roll": kube(verb="PATCH", path="*/deployments/*", status=500, count=2)}),
    Scenario("kube-namespace-label-409-is-read-again-and-retried",
             {"before:roll": kube(verb="PATCH", path="/api/v1/namespaces/*", status=409,
                                  count=1)}),
    Scenario("kube-revision-tag-webhook-409-while-starting-is-retried",
             {"before:start": kube(verb="PUT", path="*/mutatingwebhookconfigurations/*",
                                   status=409, count=1)}),
    Scenario("kube-pod-list-429-retry-after-is-waited-out",
             {"before:roll": kube(verb="GET", path="/api/v1/pods", status=429, retry_after=1,
                                  count=2)}),
    Scenario("kube-workload-reads-dropped-mid-wave-are-read-again",
             {"before:roll": kube(verb="GET", path="/apis/apps/v1/namespaces/*/deployments/*",
                                  drop=True, count=2)}),
    Scenario("kube-slow-api-server-during-the-roll-out-is-waited-for",
             {"before:roll": kube(verb="PATCH", path="*/deployments/*", latency=0.4, count=4)}),
    Scenario("kube-403-on-a-restart-pauses-naming-the-verb-then-resume-completes",
             {"before:roll": kube(verb="PATCH", path="*/statefulsets/*", status=403, count=1)},
             said="Forbidden"),
    Scenario("kube-standing-503-pauses-the-start-then-retry-now-completes",
             {"before:start": kube(verb="GET", path="/api/v1/namespaces/aks-istio-system/pods",
                                   status=503, count=100_000)},
             said="Still failing after"),
    Scenario("kube-gate-500-on-complete-records-nothing-and-the-second-click-completes",
             {"before:complete": kube(verb="GET", path="/api/v1/pods", status=500,
                                      count=100_000),
              "after:complete": clear_once_told(BOB, "not recorded")}),
    Scenario("kube-never-ready-canary-pauses-the-roll-out-then-rollback-recovers",
             {"before:roll": lambda t: t.kube.set_pod_fault("never-ready", NEW)},
             ends=Phase.ROLLED_BACK, said="stuck", on_pause=roll_back),
]

# --- Slack ----------------------------------------------------------------------------------


def lose_next_ack(trial: Trial) -> None:
    trial.sim.slack.configure_app(lose_acks=1, ack_timeout=1.5)


def acks_lost(trial: Trial, run: Run) -> None:
    assert trial.sim.slack.configure_app()["acks_lost"] == 1


def drop_the_socket(trial: Trial) -> None:
    """Slack closes the Socket Mode connection without a word; the bot must notice and
    connect again before carol's click can reach it."""
    request = urllib.request.Request(f"{trial.sim.slack.base_url}/_sim/socket/drop",
                                     data=b"{}", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    trial.wait(lambda t: t.sockets() >= 1, 30, "the bot to connect again")


def slow_card_edits(trial: Trial) -> None:
    """Every card edit takes 1.5 s from now on: a window between a transition and its replies."""
    trial.widen("slack", verb="POST", path="/api/chat.update", latency=1.5, count=None)


SLACK = [
    Scenario("slack-thread-replies-500-are-posted-later-none-lost",
             {"before:roll": slack(verb="POST", path="/api/chat.postMessage", status=500,
                                   count=1)}),
    Scenario("slack-card-edits-429-retry-after-are-waited-out",
             {"before:start": slack(verb="POST", path="/api/chat.update", status=429,
                                    retry_after=1, count=2)}),
    Scenario("slack-posts-dropped-are-sent-again",
             {"before:complete": slack(verb="POST", path="/api/chat.postMessage", drop=True,
                                       count=2)}),
    Scenario("slack-slow-web-api-is-waited-for",
             {"before:start": slack(verb="POST", path="/api/chat.*", latency=1.0, count=4)}),
    Scenario("slack-lost-ack-of-start-makes-one-run-and-one-card",
             {"before:command": lose_next_ack}, check=acks_lost),
    Scenario("slack-lost-ack-of-an-approval-is-not-answered-nothing-was-done",
             {"before:start": lose_next_ack}, check=acks_lost),
    Scenario("slack-response-url-500-loses-no-decision",
             {"before:roll": slack(verb="POST", path="/hooks/*", status=500, count=1)}),
    Scenario("slack-socket-mode-connection-dropped-then-clicks-still-land",
             {"before:roll": drop_the_socket}),
    Scenario("slack-500-on-the-last-reply-of-a-finished-run-loses-none",
             {"before:complete": slow_card_edits},
             when={"completed: the next reply fails": (
                 phase_is(Phase.COMPLETED),
                 slack(verb="POST", path="/api/chat.postMessage", status=500, count=1))}),
]

# --- SIGKILL points -------------------------------------------------------------------------


def arm_change_unseen(phase: Phase, puts: int) -> Condition:
    """ARM accepted the PUT of `phase` (the `puts`-th), and the bot has not seen it end."""
    return lambda t: (t.phase() is phase and t.accepted_puts() >= puts
                      and t.audited("ARM operation succeeded") < puts)


def slow_operation_polls(trial: Trial) -> None:
    """The bot's next looks at the ARM operation take half a second each."""
    trial.widen("arm", verb="GET", path=OPERATION, latency=0.5, count=2)


def widen(system: str, **rule: Any) -> Hook:
    return lambda t: t.widen(system, **rule)


def mid_wave(phase: Phase) -> Condition:
    def condition(t: Trial) -> bool:
        run = t.run()
        if run is None or run.phase is not phase:
            return False
        waves = {k: v for k, v in t.store.steps(run.id).items()
                 if k.startswith(f"{phase.value}.") and ".wave." in k}
        return any(not v.get("done") for v in waves.values()) and sum(t.patches().values()) > 0
    return condition


def between_waves(t: Trial) -> bool:
    run = t.run()
    if run is None or run.phase is not Phase.ROLLING:
        return False
    steps = t.store.steps(run.id)
    return bool((steps.get("rolling.1.wave.0") or {}).get("done")) and \
        "rolling.1.wave.1" not in steps


def entered(phase: Phase) -> Condition:
    """The run is in `phase` and the bot has recorded the change (its audit entry is in)."""
    return lambda t: t.phase() is phase and t.audited(f"phase {phase.value}")


def phase_reply_in_thread(phase: Phase) -> Condition:
    """The thread shows the reply (in the bot's own words) of the change into `phase`."""
    def condition(t: Trial) -> bool:
        run = t.run()
        card = t.card(run.id) if run else None
        if run is None or card is None:
            return False
        changes = [e for e in t.store.audit_log(run_id=run.id)
                   if e.kind is AuditKind.PHASE_CHANGED and e.what == f"phase {phase.value}"]
        words = {reply_of(e, Subject.of(run))[1] for e in changes}
        return any(r.get("text") in words for r in card.get("replies", []))
    return condition


def killed_in(point: str, phase: Phase | None, puts: int | None = None
              ) -> Callable[[Trial, Run], None]:
    def check(trial: Trial, run: Run) -> None:
        kill = next(k for k in trial.kills if k.point == point)
        assert kill.phase is phase, (point, kill.phase)
        if puts is not None:
            assert kill.accepted_puts == puts, (point, kill.accepted_puts)
    return check


KILLS = [
    Scenario("kill-right-after-the-ack-of-start",
             {"after:command": kill_now("after the ack of /start")}),
    Scenario("kill-between-the-start-click-and-its-transition",
             {"after:start": kill_now("after the start click's ack")}),
    Scenario("kill-while-starting-before-the-arm-put",
             {"before:start": widen("kube", verb="POST", path="*/configmaps", latency=1.0,
                                    count=1)},
             kills={"starting, before the ARM PUT":
                    lambda t: t.phase() is Phase.STARTING and t.accepted_puts() == 0},
             check=killed_in("starting, before the ARM PUT", Phase.STARTING, puts=0)),
    Scenario("kill-while-starting-after-the-arm-put",
             {"before:start": slow_operation_polls},
             kills={"starting, ARM PUT accepted, its end not seen":
                    arm_change_unseen(Phase.STARTING, 1)},
             check=killed_in("starting, ARM PUT accepted, its end not seen", Phase.STARTING,
                             puts=1)),
    Scenario("kill-mid-wave-while-rolling",
             {"before:roll": widen("kube", verb="PATCH", path="*/deployments/*", latency=0.3,
                                   count=3)},
             kills={"rolling, mid wave": mid_wave(Phase.ROLLING)},
             check=killed_in("rolling, mid wave", Phase.ROLLING)),
    Scenario("kill-between-two-waves-while-rolling",
             {"before:roll": widen("slack", verb="POST", path="/api/chat.postMessage",
                                   latency=0.25, count=12)},
             kills={"rolling, between waves": between_waves},
             check=killed_in("rolling, between waves", Phase.ROLLING)),
    Scenario("kill-while-verifying",
             kills={"verifying, soaking": entered(Phase.VERIFYING)},
             check=killed_in("verifying, soaking", Phase.VERIFYING)),
    Scenario("kill-at-awaiting-decision",
             kills={"awaiting decision": entered(Phase.AWAITING_DECISION)}),
    Scenario("kill-between-the-complete-click-and-its-transition",
             {"after:complete": kill_now("after the complete click's ack")}),
    Scenario("kill-while-completing-after-the-arm-put",
             {"before:complete": slow_operation_polls},
             kills={"completing, ARM PUT accepted, its end not seen":
                    arm_change_unseen(Phase.COMPLETING, 2)},
             check=killed_in("completing, ARM PUT accepted, its end not seen",
                             Phase.COMPLETING, puts=2)),
    Scenario("kill-while-rolling-back-mid-wave",
             {"before:rollback": widen("kube", verb="PATCH", path="*/deployments/*",
                                       latency=0.3, count=3)},
             kills={"rolling back, mid wave": mid_wave(Phase.ROLLING_BACK)},
             decide=Action.ROLLBACK, ends=Phase.ROLLED_BACK,
             check=killed_in("rolling back, mid wave", Phase.ROLLING_BACK)),
    Scenario("kill-between-a-transition-and-its-audit-entry",
             {"before:roll": lambda t: t.slow_audit_write("phase verifying"),
              "after:roll": lambda t: t.kill_once_committed(
                  Phase.VERIFYING, "verifying committed, its audit entry being written")}),
    Scenario("kill-right-after-a-thread-reply",
             kills={"after the reply 'phase canary_ready'": phase_reply_in_thread(
                 Phase.CANARY_READY)}),
    Scenario("kill-right-after-the-run-completed",
             {"before:complete": slow_card_edits},
             kills={"completed, card and thread not yet told": entered(Phase.COMPLETED)}),
]

SCENARIOS = ARM + KUBE + SLACK + KILLS


# --- the tally ------------------------------------------------------------------------------


class Tally:
    """Each scenario's outcome, appended to one file that every xdist worker shares; the
    summary line is rewritten after each worker's session (tests/e2e/conftest.py prints the
    last one in the terminal summary)."""

    def __init__(self, root: Path) -> None:
        self.lines, self.out = root / "fault-suite.jsonl", root / TALLY

    def record(self, scenario: Scenario, kills: int, passed: bool) -> None:
        row = {"scenario": scenario.name, "kills": kills, "passed": passed,
               "known_bug": scenario.bug is not None}
        with self.lines.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def summary(self) -> str:
        rows = [json.loads(line) for line in self.lines.read_text().splitlines()] \
            if self.lines.exists() else []
        passed = sum(r["passed"] for r in rows)
        known = sum(1 for r in rows if r["known_bug"] and not r["passed"])
        return (f"fault suite: {len(rows)} scenarios, {sum(r['kills'] for r in rows)} kills, "
                f"{passed} passed; {known} known product bug(s) (xfail), "
                f"{len(rows) - passed - known} other failure(s)")


@pytest.fixture(scope="session")
def tally(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tally]:
    base = tmp_path_factory.getbasetemp()
    record = Tally(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)
    yield record
    record.out.write_text(record.summary() + "\n")  # printed by tests/e2e/conftest.py


@pytest.fixture
def trial(tmp_path: Path) -> Iterator[Trial]:
    with MeshSim("bookinfo", SPEED, tmp_path / "sim") as sim:
        running = Trial(sim, tmp_path)
        running.start_bot()
        try:
            yield running
        finally:
            running.stop()


def run_scenario(trial: Trial, scenario: Scenario, tally: Tally) -> None:
    trial.hooks.update(scenario.hooks)
    for point, condition in scenario.kills.items():
        trial.kill_when(point, condition)
    for name, (condition, action) in scenario.when.items():
        trial.when(name, condition, action)
    passed = False
    try:
        run = drive(trial, scenario.decide, scenario.on_pause, scenario.on_failed)
        assert run.phase is scenario.ends, trial.describe()
        assert not trial.triggers, f"never reached: {[name for name, *_ in trial.triggers]}"
        assert not trial.hooks, f"hooks the run never reached: {list(trial.hooks)}"
        assert_every_fault_was_met(trial)
        trial.clear_faults()
        if scenario.said is not None:
            assert said_in_audit(trial, run, scenario.said), \
                f"the run never said {scenario.said!r}: {trial.describe()}"
        assert_phase_changes_and_approvals_are_audited(trial, run)
        assert_thread_has_every_approval_and_phase_change(trial, run)
        assert_no_put_repeated(trial, scenario.puts)
        assert_no_workload_restarted_twice_in_a_wave(trial, run)
        assert_nobody_told_anything_untrue(trial, run)
        assert_cluster_matches(trial, run)
        if scenario.check is not None:
            scenario.check(trial, run)
        passed = True
    finally:
        tally.record(scenario, len(trial.kills), passed)


@pytest.mark.parametrize("scenario", [s.param() for s in ARM])
def test_arm_fault_ends_the_run_right_and_loses_nothing(trial: Trial, scenario: Scenario,
                                                        tally: Tally) -> None:
    """ARM throttles, fails, drops, is slow or fails its operation during a whole run."""
    run_scenario(trial, scenario, tally)


@pytest.mark.parametrize("scenario", [s.param() for s in KUBE])
def test_kubernetes_fault_ends_the_run_right_and_loses_nothing(trial: Trial, scenario: Scenario,
                                                               tally: Tally) -> None:
    """The API server conflicts, throttles, fails, drops, forbids, or the canary is bad."""
    run_scenario(trial, scenario, tally)


@pytest.mark.parametrize("scenario", [s.param() for s in SLACK])
def test_slack_fault_ends_the_run_right_and_loses_nothing(trial: Trial, scenario: Scenario,
                                                          tally: Tally) -> None:
    """Slack fails, throttles, drops, is slow, loses acks or the Socket Mode connection."""
    run_scenario(trial, scenario, tally)


@pytest.mark.parametrize("scenario", [s.param() for s in KILLS])
def test_killed_bot_restarted_on_the_same_database_finishes_the_run(
        trial: Trial, scenario: Scenario, tally: Tally) -> None:
    """SIGKILL at one point of the run, a new process on the same SQLite file, the run ends."""
    run_scenario(trial, scenario, tally)
    assert trial.kills, "the bot was killed"
