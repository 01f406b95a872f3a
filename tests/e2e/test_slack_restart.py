"""A bot process killed with SIGKILL in the middle of a run, and a new one started.

The bot runs as a real child process (`mesh-upgrade-bot run`, Socket Mode, SQLite file) against
meshsim in this process. The second process must find the same card and thread in the store,
edit that card (no second root message) and finish the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.cli.sandbox import sandbox_config
from bot.store.repository import Store, create_store
from bot.upgrade.phases import Phase
from meshsim.sim import MeshSim
from meshsim.slack import seed
from tests.e2e.slack_harness import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    SOAK,
    SPEED,
    texts,
    wait_until,
)
from tests.integration.conftest_workflow import NEW, OLD, Env, assert_only_on
from tests.sim_bot import COMMAND as SIM_BOT
from tests.sim_bot import ROOT, bot_env


def _spawn(config: Path, sim: MeshSim, log: Path) -> subprocess.Popen[bytes]:
    described = sim.describe()
    env = {**os.environ, "SLACK_BOT_TOKEN": seed.BOT_TOKEN, "SLACK_APP_TOKEN": seed.APP_TOKEN,
           "MESH_UPGRADE_SLACK_API_URL": sim.slack.api_url,
           **bot_env(described)}
    with log.open("ab") as out:
        child = subprocess.Popen([*SIM_BOT, "run", "--config", str(config), "--mode", "socket",
                                  "--drive-every", "0.1", "--max-wait", "0.2",
                                  "--ops-port", "0"],  # 8080 may be taken by a parallel test
                                 env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    wait_until(lambda: sim.slack.configure_app()["socket_connections"] or child.poll() is not None,
               30, "the bot process to connect")
    assert child.poll() is None, log.read_text()[-3000:]
    return child


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[MeshSim]:
    with MeshSim("bookinfo", SPEED, tmp_path / "sim") as running:
        yield running


def _phase(store: Store) -> Phase | None:
    runs = store.recent_runs("aks-sandbox", 1)
    return runs[0].phase if runs else None


def _cards(sim: MeshSim) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in sim.slack.messages(CHANNEL)["messages"] if "Mesh upgrade ·" in texts(m)]


def _click(sim: MeshSim, user: str, action_id: str) -> None:
    def clickable() -> bool:
        cards = _cards(sim)
        return bool(cards) and action_id in str(cards[0]["blocks"])
    wait_until(clickable, 30, f"button {action_id}")
    sim.slack.click(user, CHANNEL, _cards(sim)[0]["ts"], action_id)


def test_killed_bot_reattaches_to_the_same_card_and_finishes(sim: MeshSim, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    config = tmp_path / "bot.yaml"
    config.write_text(yaml.safe_dump(sandbox_config(sim.describe(), SOAK, SPEED, url)
                                     .model_dump(mode="json")))
    log = tmp_path / "bot.log"
    first = _spawn(config, sim, log)
    store = create_store(url)
    try:
        sim.slack.command(ALICE, CHANNEL, "/mesh-upgrade", "start aks-sandbox")
        _click(sim, BOB, "approve-start")
        wait_until(lambda: _phase(store) not in (None, Phase.PLANNED), 20, "the start")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_in = _phase(store)
        card_ts = _cards(sim)[0]["ts"]
        wait_until(lambda: not sim.slack.configure_app()["socket_connections"], 10, "disconnect")
        second = _spawn(config, sim, log)
        try:
            wait_until(lambda: _phase(store) is Phase.CANARY_READY, 30, "canary ready")
            _click(sim, CAROL, "approve-roll")
            _click(sim, BOB, "approve-complete")
            wait_until(lambda: _phase(store) is Phase.COMPLETED, 40, "completed")
            wait_until(lambda: "Completed" in texts(_cards(sim)[0]), 15, "the final card")
        finally:
            second.terminate()
            second.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
        store.close()
    assert killed_in is not Phase.COMPLETED
    cards = _cards(sim)
    assert [c["ts"] for c in cards] == [card_ts], "one card, the same one, before and after"
    replies = [texts(r) for r in cards[0]["replies"]]
    assert any("approved rolling out the workloads" in r for r in replies)
    assert any("Upgrade complete: `aks-sandbox` runs" in r for r in replies)
    assert sum("control plane is ready next to" in r for r in replies) == 1
    assert len([c for c in sim.arm.calls("PUT", "/managedClusters/")
                if c.status is not None and c.status < 300]) == 2
    assert_only_on(Env(sim, None, None), keep=NEW, gone=OLD)  # type: ignore[arg-type]
