"""One whole upgrade run of the bot as a real process, driven as the seeded Slack users, with
faults injected and the process SIGKILLed (and started again on the same database) on the way;
then the checks every such run must pass. Used by tests/e2e/test_fault_suite.py.

The driver acts like the people in the channel would: alice types `/mesh-upgrade start`, bob
approves the start and the end, carol the roll-out; a pause or a failure gets what a person
would click (Retry now, Resume, Roll back) once its cause is gone. A kill point is a condition
polled while the driver waits (or a hook right after an ack); when it holds, the bot is killed
at once and a new process is started on the same SQLite file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.cli.sandbox import sandbox_config
from bot.slack.buttons import ACTION_IDS, phase_label
from bot.slack.wording.phrases import Subject
from bot.slack.wording.runs import reply_of
from bot.store.repository import create_store
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Action, Phase, is_terminal
from bot.upgrade.records import Run
from meshsim.faults import FaultRule
from meshsim.kube.cluster import KubeSim
from meshsim.sim import RESOURCE_GROUP, SUBSCRIPTION, MeshSim
from tests.e2e.run_process import secrets_env
from tests.e2e.slack_harness import ALICE, BOB, CAROL, CHANNEL, texts
from tests.integration.conftest_workflow import NEW, OLD, Env, assert_only_on
from tests.sim_bot import COMMAND as SIM_BOT
from tests.sim_bot import ROOT

CLUSTER = "aks-sandbox"
SPEED = 100.0  # simulated seconds per real second: an ARM operation (30 s) takes 0.3 s
SOAK = 60.0  # simulated seconds: 0.6 real seconds of VERIFYING
PROGRESS_TIMEOUT = 4.0  # real seconds without progress before a rollout counts as stuck
RUN_TIMEOUT = 100.0  # real seconds for one whole run, faults, kills and pauses included
WORKLOADS = ("deployments", "statefulsets", "daemonsets")
# What an answer says when the click or command it answers changed nothing.
NOTHING = ("nothing was done", "nothing else was changed", "nothing was changed",
           "nothing changed", "not recorded")
_VERSION = re.compile(r"v=(\d+)$")

Hook = Callable[["Trial"], Any]
Condition = Callable[["Trial"], Any]


@dataclass(frozen=True)
class Move:
    user: str
    action: Action


@dataclass(frozen=True)
class Kill:
    point: str
    phase: Phase | None  # the run's phase when the process was killed
    accepted_puts: int  # ARM PUTs accepted by then


@dataclass
class Trial:
    """The simulators, the bot process, its database, and what the people did."""

    sim: MeshSim
    workdir: Path
    hooks: dict[str, Hook] = field(default_factory=dict)  # one-shot, by point name
    triggers: list[tuple[str, Condition, Hook]] = field(default_factory=list)  # polled
    kills: list[Kill] = field(default_factory=list)
    rules: list[FaultRule] = field(default_factory=list)  # every fault rule added
    acts: Counter[str] = field(default_factory=Counter)  # clicks and commands, by user
    generation: int = 0  # bot processes started so far
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.database = self.workdir / "bot.db"
        self.url = f"sqlite:///{self.database}"
        self.config = self.workdir / "clusters.yaml"
        config = sandbox_config(self.sim.describe(), SOAK, SPEED, self.url).model_dump(mode="json")
        for cluster in config["clusters"]:
            cluster["restart"]["progress_timeout"] = PROGRESS_TIMEOUT
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = self.workdir / "bot.log"
        self.store = create_store(self.url)

    # --- the simulators ---------------------------------------------------------------------

    @property
    def kube(self) -> KubeSim:
        return self.sim.clusters[CLUSTER]

    def arm_fault(self, **rule: Any) -> FaultRule:
        return self._keep(self.sim.arm.faults.add(**rule))

    def kube_fault(self, **rule: Any) -> FaultRule:
        return self._keep(self.kube.faults.add(**rule))

    def slack_fault(self, **rule: Any) -> FaultRule:
        return self._keep(self.sim.slack.faults.add(**rule))

    def _keep(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def widen(self, system: str, **rule: Any) -> FaultRule:
        """A fault that only holds a kill point's window open (latency): unlike the faults a
        scenario is about, it need not be met."""
        faults = {"arm": self.sim.arm.faults, "kube": self.kube.faults,
                  "slack": self.sim.slack.faults}[system]
        return faults.add(**rule)

    def clear_faults(self) -> None:
        """The cause of a pause is gone: no fault rule is left on any simulator."""
        self.sim.arm.faults.clear()
        self.kube.faults.clear()
        self.sim.slack.faults.clear()

    def slow_audit_write(self, what: str, rows: int = 180) -> None:
        """The database takes a second or so to write the audit entry `what` (a slow disk):
        a trigger in the bot's SQLite file first works through `rows`**3 joined rows."""
        with sqlite3.connect(self.database) as db:
            db.execute("CREATE TABLE fault_rows (n INTEGER)")
            db.executemany("INSERT INTO fault_rows VALUES (?)", [(i,) for i in range(rows)])
            db.execute("CREATE TRIGGER fault_slow_audit BEFORE INSERT ON audit "
                       f"WHEN NEW.what = '{what}' BEGIN SELECT max(hex(a.n || b.n || c.n)) "
                       "FROM fault_rows a, fault_rows b, fault_rows c; END")

    def committed_phase(self) -> Phase | None:
        """The last run's phase as committed in the SQLite file, read without taking a lock
        (the store's own reads BEGIN IMMEDIATE, so they wait for any write in progress)."""
        with contextlib.closing(sqlite3.connect(self.database, isolation_level=None)) as db:
            row = db.execute("SELECT phase FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        return Phase(row[0]) if row else None

    def kill_once_committed(self, phase: Phase, point: str, timeout: float = 30.0) -> None:
        """Wait, reading only the file (nothing here waits for the bot's writes), until the
        run's move to `phase` is committed; then kill at once, before the bot writes more."""
        self._poll(lambda: self.committed_phase() is phase, timeout, f"{phase} committed")
        self.kill(point)

    def audited(self, what: str) -> int:
        """How many entries `what` the run's audit has (the bot finished recording them)."""
        run = self.run()
        return 0 if run is None else sum(1 for e in self.store.audit_log(
            run_id=run.id, limit=100_000) if e.what == what)

    def arm_state(self) -> dict[str, Any]:
        return self.sim.arm.cluster_state(SUBSCRIPTION, RESOURCE_GROUP, CLUSTER)

    def accepted_puts(self) -> int:
        return len([c for c in self.sim.arm.calls("PUT", "/managedClusters/")
                    if c.status is not None and c.status < 300])

    def patches(self) -> Counter[tuple[str, str]]:
        """Accepted rollout-restart patches (the bot's only patches of workloads), by workload."""
        log = self.kube.request_log
        return Counter((r.namespace, r.name) for kind in WORKLOADS
                       for r in log.records(verb="patch", resource=kind, subresource="")
                       if 0 < r.code < 300)

    # --- the bot process --------------------------------------------------------------------

    def start_bot(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MESH_UPGRADE_"))}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*SIM_BOT, "run", "--config", str(self.config), "--mode", "socket",
                 "--ops-port", "0", "--drive-every", "0.1", "--max-wait", "0.2"],
                env={**env, **secrets_env(self.sim)}, stdout=out, stderr=subprocess.STDOUT,
                cwd=ROOT)
        self.generation += 1
        self._poll(lambda: self.sockets() >= 1 or self.process.poll() is not None,  # type: ignore[union-attr]
                   30, "the bot process to connect to Slack")
        assert self.process.poll() is None, self.tail()

    def sockets(self) -> int:
        return int(self.sim.slack.configure_app()["socket_connections"])

    def kill(self, point: str) -> None:
        """SIGKILL the bot at once, then start a new process on the same database."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        run = self.run()
        self.kills.append(Kill(point, run.phase if run else None, self.accepted_puts()))
        self._poll(lambda: self.sockets() == 0, 10, "Slack to see the connection gone")
        self.start_bot()

    def kill_when(self, point: str, condition: Condition) -> None:
        self.triggers.append((point, condition, lambda t: t.kill(point)))

    def when(self, name: str, condition: Condition, action: Hook) -> None:
        """Do `action` as soon as `condition` holds (polled while the driver waits)."""
        self.triggers.append((name, condition, action))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.store.close()

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    # --- what the store and the channel show ------------------------------------------------

    def run(self) -> Run | None:
        runs = self.store.recent_runs(CLUSTER, 1)
        return runs[0] if runs else None

    def phase(self) -> Phase | None:
        run = self.run()
        return run.phase if run else None

    def messages(self) -> dict[str, Any]:
        return self.sim.slack.messages(CHANNEL)

    def cards(self) -> list[dict[str, Any]]:
        return [m for m in self.messages()["messages"] if "Mesh upgrade ·" in texts(m)]

    def card(self, run_id: int) -> dict[str, Any] | None:
        ref = self.store.slack_ref(run_id)
        if ref is None:
            return None
        return next((m for m in self.messages()["messages"] if m["ts"] == ref.root_ts), None)

    def answers(self, user: str) -> list[str]:
        """The ephemeral answers `user` got through response_url (not the acks' own text)."""
        return [texts(e) for e in self.messages()["ephemeral"]
                if e["user"] == user and e.get("source") == "response_url"]

    def wait_answer(self, user: str, part: str, timeout: float = 20.0) -> str:
        return str(self.wait(lambda t: next((a for a in t.answers(user) if part in a), None),
                             timeout, f"an answer to {user} saying {part!r}"))

    # --- waiting, with the kill points armed ------------------------------------------------

    def wait(self, condition: Condition, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition(self)
            self._fire()  # also when `value` holds: the state that ends the wait may be a point
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s: {what}\n{self.describe()}")
            time.sleep(0.01)

    def _poll(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := condition()):
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s: {what}\n{self.tail()}")
            time.sleep(0.02)
        return value

    def _fire(self) -> None:
        assert self.process is not None and self.process.poll() is None, \
            f"the bot died on its own:\n{self.tail()}"
        for trigger in list(self.triggers):
            _name, condition, action = trigger
            if condition(self):
                self.triggers.remove(trigger)
                action(self)

    def hook(self, point: str) -> None:
        action = self.hooks.pop(point, None)
        if action is not None:
            action(self)

    def describe(self) -> str:
        run = self.run()
        state = "no run" if run is None else (f"run {run.id} {run.phase} v{run.version} "
                                              f"paused={run.pause_reason!r}")
        return f"{state}; kills={[k.point for k in self.kills]}\n--- bot log ---\n{self.tail()}"

    # --- people ----------------------------------------------------------------------------

    def type_start(self) -> None:
        self.hook("before:command")
        answered, generation = len(self.answers(ALICE)), self.generation
        self.sim.slack.command(ALICE, CHANNEL, "/mesh-upgrade", f"start {CLUSTER}")
        self.acts[ALICE] += 1
        self.hook("after:command")
        self.wait(lambda t: t.run() is not None or len(t.answers(ALICE)) > answered
                  or t.generation != generation, 30, "the start to be done or answered")

    def click(self, move: Move, run: Run) -> None:
        """Click `move` on the run's card once the card offers it at the run's version."""
        aid = ACTION_IDS[move.action]

        def ready(t: Trial) -> str | bool | None:
            now = t.run()
            if now is None or now.version != run.version:
                return "moved"
            card = t.card(run.id)
            return card is not None and _button_version(card, aid) == run.version and "click"

        if self.wait(ready, 30, f"the card to offer {aid} at version {run.version}") == "moved":
            return
        ref = self.store.slack_ref(run.id)
        assert ref is not None
        self.hook(f"before:{move.action.value}")
        answered, generation = len(self.answers(move.user)), self.generation
        self.sim.slack.click(move.user, CHANNEL, ref.root_ts, aid)
        self.acts[move.user] += 1
        self.hook(f"after:{move.action.value}")

        def answered_or_moved(t: Trial) -> bool:
            now = t.run()
            return (now is not None and now.version != run.version) or \
                len(t.answers(move.user)) > answered or t.generation != generation
        self.wait(answered_or_moved, 30, f"{move.user}'s {aid} to be decided")


def _button_version(card: dict[str, Any], aid: str) -> int | None:
    for block in card.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == aid:
                found = _VERSION.search(str(element.get("value", "")))
                return int(found[1]) if found else None
    return None


# --- what a person does next ----------------------------------------------------------------

OnPause = Callable[[Trial, Run], Move | None]


def retry_when_fixed(trial: Trial, run: Run) -> Move | None:
    """The default for a pause: the cause is fixed (no fault left), then Retry now, or Resume
    roll-out for a paused roll-out."""
    trial.clear_faults()
    if Action.RETRY in run.actions():
        return Move(BOB, Action.RETRY)
    if Action.ROLL in run.actions():
        return Move(CAROL, Action.ROLL)
    return None


def roll_back(trial: Trial, run: Run) -> Move | None:
    return Move(CAROL, Action.ROLLBACK) if Action.ROLLBACK in run.actions() else None


def next_move(trial: Trial, run: Run, decide: Action, on_pause: OnPause,
              on_failed: OnPause) -> Move | None:
    if run.phase is Phase.FAILED:
        return on_failed(trial, run)
    if run.paused:
        return on_pause(trial, run)
    if run.phase is Phase.PLANNED:
        return Move(BOB, Action.START)
    if run.phase is Phase.CANARY_READY:
        return Move(CAROL, Action.ROLL)
    if run.phase is Phase.AWAITING_DECISION:
        return Move(BOB if decide is Action.COMPLETE else CAROL, decide)
    return None


def drive(trial: Trial, decide: Action = Action.COMPLETE, on_pause: OnPause = retry_when_fixed,
          on_failed: OnPause = roll_back) -> Run:
    """The whole run, from alice's command to its end, whatever happens on the way."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = trial.run()
        if run is None:
            trial.type_start()
            continue
        if is_terminal(run.phase):
            return run
        move = next_move(trial, run, decide, on_pause, on_failed)
        if move is not None:
            trial.click(move, run)
            continue

        def moved(t: Trial, was: Run = run) -> bool:
            now = t.run()
            return now is not None and (now.version != was.version
                                        or now.pause_reason != was.pause_reason)
        trial.wait(moved, 40, f"run {run.id} to move on from {run.phase}")
    raise AssertionError(f"the run did not end within {RUN_TIMEOUT} s\n{trial.describe()}")


# --- what every run must show at its end ---------------------------------------------------


def assert_phase_changes_and_approvals_are_audited(trial: Trial, run: Run) -> None:
    store = trial.store

    def audited() -> tuple[list[str], list[str]]:
        audit = store.audit_log(run_id=run.id, limit=100_000)
        return ([e.what for e in audit if e.kind is AuditKind.PHASE_CHANGED],
                [f"phase {c.to_phase.value}" for c in store.history(run.id)[1:]])

    # An entry the live bot is writing right now gets a moment; a lost one stays lost.
    deadline = time.monotonic() + 3
    while (seen := audited())[0] != seen[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    changes, history = seen
    assert changes == history, f"phase changes audited {changes}, in the history {history}"
    audit = store.audit_log(run_id=run.id, limit=100_000)
    approved = {(e.actor, e.detail.get("action"), e.detail.get("run_version"))
                for e in audit if e.kind is AuditKind.APPROVED}
    for action in Action:
        for version in range(run.version + 1):
            for approval in store.approvals(run.id, action.value, version):
                assert (approval.user_id, action.value, version) in approved, \
                    f"approval without an audit entry: {approval}"


def assert_thread_has_every_approval_and_phase_change(trial: Trial, run: Run) -> None:
    """Every APPROVED and PHASE_CHANGED entry is a reply under the run's one card."""
    subject = Subject.of(run)
    wanted = Counter(reply_of(e, subject)[1]
                     for e in trial.store.audit_log(run_id=run.id, limit=100_000)
                     if e.kind in (AuditKind.APPROVED, AuditKind.PHASE_CHANGED))

    def missing(t: Trial) -> Counter[str]:
        card = t.card(run.id) or {}
        shown = Counter(r.get("text", "") for r in card.get("replies", []))
        return Counter({what: n - shown[what] for what, n in wanted.items() if shown[what] < n})

    try:
        trial.wait(lambda t: not missing(t), 15, "every approval and phase change in the thread")
    except AssertionError:
        raise AssertionError(f"lost from the thread: {dict(missing(trial))}") from None
    cards = trial.cards()
    assert [c["ts"] for c in cards] == [trial.card(run.id)["ts"]], "one card, the run's"  # type: ignore[index]
    label = phase_label(run.phase)
    trial.wait(lambda t: label in texts(t.card(run.id) or {}), 15, f"the card saying {label!r}")


def assert_no_put_repeated(trial: Trial, puts: int) -> None:
    assert trial.accepted_puts() == puts, \
        f"{trial.accepted_puts()} accepted ARM PUTs, one per revision change is {puts}"


def assert_no_workload_restarted_twice_in_a_wave(trial: Trial, run: Run) -> None:
    waves = {k: v for k, v in trial.store.steps(run.id).items()
             if ".wave." in k and isinstance(v, dict) and "workloads" in v}
    planned: Counter[tuple[str, str]] = Counter()
    for wave in waves.values():
        for ref in wave["workloads"]:
            _kind, namespace, name = ref.split("/", 2)
            planned[(namespace, name)] += 1
    patches = trial.patches()
    twice = {w: n for w, n in patches.items() if n > planned[w]}
    assert not twice, f"restarted more often than the waves they are in: {twice}"
    ids = [w["restart_id"] for w in waves.values()]
    assert len(ids) == len(set(ids)), "one restart id per wave"
    last = {Phase.COMPLETED: "rolling.", Phase.ROLLED_BACK: "rolling_back."}.get(run.phase)
    if last is not None:  # the waves that took the cluster where the run ended all rolled out
        assert all(v.get("done") for k, v in waves.items() if k.startswith(last)), waves


def assert_nobody_told_anything_untrue(trial: Trial, run: Run) -> None:
    """Nobody hears "nothing was done" more often than their clicks and commands that changed
    nothing: an answer that says so about an applied approval is untrue."""
    audit = trial.store.audit_log(run_id=run.id, limit=100_000)
    for user in (ALICE, BOB, CAROL):
        applied = sum(1 for e in audit if e.actor == user
                      and e.kind in (AuditKind.APPROVED, AuditKind.RUN_REQUESTED))
        nothing = [a for a in trial.answers(user) if any(p in a.lower() for p in NOTHING)]
        assert len(nothing) <= trial.acts[user] - applied, (
            f"{user} acted {trial.acts[user]} time(s), {applied} applied, yet was told "
            f"{len(nothing)} time(s) that nothing was done: {json.dumps(nothing, indent=1)}")


def assert_cluster_matches(trial: Trial, run: Run) -> None:
    env = Env(trial.sim, None, None)  # type: ignore[arg-type]
    if run.phase is Phase.COMPLETED:
        assert_only_on(env, keep=NEW, gone=OLD)
    elif run.phase is Phase.ROLLED_BACK:
        assert_only_on(env, keep=OLD, gone=NEW)


def assert_every_fault_was_met(trial: Trial) -> None:
    """Every fault rule was met (a scenario whose fault never fired tested nothing); a rule
    added at the very end may still be waiting for the bot's next call."""
    try:
        trial.wait(lambda t: all(r.hits for r in t.rules), 5, "every fault rule met")
    except AssertionError:
        unmet = [r for r in trial.rules if not r.hits]
        raise AssertionError(f"fault rules the run never met: {unmet}") from None
