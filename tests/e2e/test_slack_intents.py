"""A command acked just before the bot dies is never lost silently (issue 10, recipe 5): the
edge records it before the ack, and the restarted bot tells the person what became of it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store.repository import create_store
from meshsim.sim import MeshSim
from tests.e2e.run_process import SPEED, start_bot
from tests.e2e.slack_harness import ALICE, CHANNEL, texts, wait_until


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[MeshSim]:
    with MeshSim("bookinfo", SPEED, tmp_path / "sim") as running:
        yield running


def _ephemerals(sim: MeshSim, user: str) -> list[str]:
    return [texts(e) for e in sim.slack.messages(CHANNEL)["ephemeral"] if e["user"] == user]


def test_a_start_acked_just_before_a_crash_is_reported_after_the_restart(
        sim: MeshSim, tmp_path: Path) -> None:
    bot = start_bot(sim, tmp_path, "socket")
    # ARM answers the plan's first read slowly: the bot acks, then dies while it waits.
    sim.arm.faults.add(verb="GET", path="*meshUpgradeProfiles*", latency=30.0, count=1)
    answer = sim.slack.command(ALICE, CHANNEL, "/mesh-upgrade", "start aks-sandbox")
    assert answer["acked"], answer
    bot.process.send_signal(signal.SIGKILL)
    bot.process.wait(10)
    store = create_store(f"sqlite:///{bot.database}")
    try:
        assert store.active_run("aks-sandbox") is None
        assert [i.text for i in store.open_intents()] == ["start aks-sandbox"]
        sim.arm.faults.clear()

        again = start_bot(sim, tmp_path, "socket")
        try:
            told = wait_until(lambda: next((e for e in _ephemerals(sim, ALICE)
                                            if "restarted" in e), None), 30,
                              "alice told what became of her start")
            assert "was not carried out" in told and "start aks-sandbox" in told
            assert store.open_intents() == ()
            assert store.active_run("aks-sandbox") is None  # nothing half-made either
            started = sim.slack.command(ALICE, CHANNEL, "/mesh-upgrade", "start aks-sandbox")
            assert started["acked"]
            wait_until(lambda: store.active_run("aks-sandbox"), 30, "the run, asked again")
        finally:
            again.stop()
    finally:
        store.close()
