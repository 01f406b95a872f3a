"""`mesh-upgrade-bot run` as a process through a whole upgrade: its log alone tells the run's
story (one JSON event per thing that happened, in order, with run, cluster, phase and the
Slack user), libraries say nothing below WARNING by default, a clean run warns of nothing,
and /metrics shows the build, the finished run, the census and the steps by kind."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config.identity import version
from bot.upgrade.kinds import StepKind
from meshsim.sim import MeshSim
from tests.e2e.run_process import SPEED, RunningBot, start_bot
from tests.e2e.slack_harness import ALICE, BOB, CAROL, CHANNEL, texts, wait_until

OWN = ("bot.", "handlers")  # the bot's own loggers


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[MeshSim]:
    with MeshSim("bookinfo", SPEED, tmp_path / "sim") as running:
        yield running


def lines(bot: RunningBot) -> list[dict[str, Any]]:
    return [json.loads(line) for line in bot.log.read_text().splitlines()]


def events(bot: RunningBot) -> list[dict[str, Any]]:
    return [line for line in lines(bot) if line["logger"] == "bot.events"]


def click_when_offered(sim: MeshSim, user: str, action_id: str) -> None:
    def card() -> dict[str, Any] | None:
        for message in sim.slack.messages(CHANNEL)["messages"]:
            if "Mesh upgrade ·" in texts(message) and action_id in json.dumps(message["blocks"]):
                return message
        return None

    message = wait_until(card, 60, f"the {action_id} button")
    sim.slack.click(user, CHANNEL, message["ts"], action_id)


def upgrade_through_slack(sim: MeshSim, bot: RunningBot) -> None:
    assert sim.slack.command(ALICE, CHANNEL, "/mesh-upgrade", "start aks-sandbox")["acked"]
    click_when_offered(sim, BOB, "approve-start")
    click_when_offered(sim, CAROL, "approve-roll")
    click_when_offered(sim, BOB, "approve-complete")
    wait_until(lambda: any(e["event"] == "phase_changed" and e["phase"] == "completed"
                           for e in events(bot)), 60, "the completed run in the log")


def metrics(bot: RunningBot) -> dict[str, float]:
    """Every sample of /metrics by its name and labels as printed."""
    out = {}
    for line in bot.get("/metrics")[1].splitlines():
        if line and not line.startswith("#"):
            sample, value = line.rsplit(" ", 1)
            out[sample] = float(value)
    return out


def in_order(seen: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> list[Any]:
    """The expected items `seen` lacks, in order (an empty list: all there, in this order)."""
    rest = iter(seen)
    return [item for item in expected if item not in rest]


def test_a_whole_run_is_told_by_its_log_events_and_counted_on_metrics(
        sim: MeshSim, tmp_path: Path) -> None:
    bot = start_bot(sim, tmp_path, "socket")
    try:
        upgrade_through_slack(sim, bot)
        wait_until(lambda: metrics(bot).get(
            'mesh_upgrade_runs_finished_total{outcome="completed"}') == 1, 10, "the outcome")
        samples = metrics(bot)
    finally:
        bot.stop()
    assert bot.process.returncode == 0

    told = events(bot)
    assert {(e["run_id"], e["cluster"]) for e in told} == {(1, "aks-sandbox")}
    assert all(e["phase"] for e in told)
    story = [(e["event"], e.get("user"), e["phase"]) for e in told
             if e["event"] != "step_started" and e["event"] != "step_finished"]
    assert in_order(story, [
        ("run_requested", "U0ALICE", "planned"),
        ("approved", "U0BOB", "starting"), ("phase_changed", "U0BOB", "starting"),
        ("arm_put", None, "starting"), ("arm_succeeded", None, "starting"),
        ("tag_set", None, "starting"), ("phase_changed", None, "canary_ready"),
        ("approved", "U0CAROL", "rolling"), ("phase_changed", "U0CAROL", "rolling"),
        ("waves_planned", None, "rolling"), ("restart_wave", None, "rolling"),
        ("phase_changed", None, "verifying"), ("phase_changed", None, "awaiting_decision"),
        ("gate", None, "awaiting_decision"),
        ("approved", "U0BOB", "completing"), ("phase_changed", "U0BOB", "completing"),
        ("gate", None, "completing"), ("arm_put", None, "completing"),
        ("arm_succeeded", None, "completing"), ("phase_changed", None, "completed"),
    ]) == []
    moved = [(e["detail"]["from"], e["phase"]) for e in told if e["event"] == "phase_changed"]
    assert moved == [("planned", "starting"), ("starting", "canary_ready"),
                     ("canary_ready", "rolling"), ("rolling", "verifying"),
                     ("verifying", "awaiting_decision"), ("awaiting_decision", "completing"),
                     ("completing", "completed")]
    waves = [e["detail"] for e in told if e["event"] == "restart_wave"]
    assert [(w["wave"], w["of"]) for w in waves] == [(i + 1, len(waves)) for i in
                                                     range(len(waves))]
    assert {e["detail"]["verdict"] for e in told if e["event"] == "gate"} == {"passed"}

    steps = [e for e in told if e["event"] in ("step_started", "step_finished")]
    finished = [e for e in steps if e["event"] == "step_finished"]
    # A waiting look (await_approval) is not asserted: a quick click can come before it.
    assert {e["detail"]["step"] for e in finished} >= {
        StepKind.ARM_PUT, StepKind.ARM_DONE, StepKind.TAGS,
        StepKind.RESTART_WAVE, StepKind.TRANSITION, StepKind.CLEAN_UP}
    assert all(e["detail"]["seconds"] >= 0 for e in finished)
    for started, after in itertools.pairwise(steps):
        if started["event"] == "step_started":  # a step ends in the phase it began in
            assert (after["event"], after["phase"]) == ("step_finished", started["phase"])

    everything = lines(bot)
    assert [line for line in everything if not line["logger"].startswith(OWN)
            and line["level"] in ("DEBUG", "INFO")] == []
    assert [line for line in everything if line["level"] not in ("DEBUG", "INFO")] == []

    build = {s: v for s, v in samples.items() if s.startswith("mesh_upgrade_build_info{")}
    assert list(build.values()) == [1.0]
    assert f'version="{version()}"' in next(iter(build))
    assert samples['mesh_upgrade_runs_finished_total{outcome="completed"}'] == 1
    assert samples['mesh_upgrade_runs_finished_total{outcome="rolled_back"}'] == 0
    sidecars = {s: v for s, v in samples.items() if s.startswith("mesh_upgrade_sidecars{")}
    assert sidecars and all('cluster="aks-sandbox",revision="asm-1-23"' in s for s in sidecars)
    assert 'mesh_upgrade_step_duration_seconds_count{phase="rolling",step="restart_wave"}' \
        in samples
    assert samples['mesh_upgrade_step_duration_seconds_count{phase="starting",step="arm_put"}'] \
        == 1
