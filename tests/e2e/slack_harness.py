"""The bot wired to meshsim the way the sandbox wires it, driven as the seeded Slack users.

Tests act only through the simulated Slack (`/_sim/command`, `/_sim/click`, the channel's
messages) and read outcomes from the channel, the store and the simulated cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from bot.cli.run import SlackAccess, build_bot
from bot.cli.sandbox import sandbox_config
from bot.config.settings import BotConfig, SlackMode
from bot.runtime.bot import Bot
from bot.runtime.services import Timing
from bot.upgrade.phases import Phase
from bot.upgrade.records import Run
from meshsim.sim import MeshSim
from meshsim.slack import seed
from meshsim.slack.testing import wait_for
from tests.sim_bot import sim_arm

CHANNEL = seed.OPS_CHANNEL
ALICE, BOB, CAROL, MALLORY = "U0ALICE", "U0BOB", "U0CAROL", "U0MALLORY"
SPEED = 50.0
SOAK = 100.0  # simulated seconds: 2 real seconds at SPEED


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    return wait_for(condition, timeout, what, interval=0.05)


def texts(message: dict[str, Any]) -> str:
    """All text of a message's blocks, for assertions."""
    out = [message.get("text", "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(message.get("blocks"))
    return "\n".join(out)


class Clock:
    """The workflow's clock (and so a fleet's), for `workflow.now`: real time, moved by
    `offset`."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Harness:
    sim: MeshSim
    bot: Bot
    database_url: str

    def command(self, user: str, text: str) -> dict[str, Any]:
        return self.sim.slack.command(user, CHANNEL, "/mesh-upgrade", text)

    def messages(self) -> dict[str, Any]:
        return self.sim.slack.messages(CHANNEL)

    def cards(self) -> list[dict[str, Any]]:
        return [m for m in self.messages()["messages"]
                if "Mesh upgrade ·" in texts(m) or "Mesh patch ·" in texts(m)]

    def card(self) -> dict[str, Any]:
        return cast(dict[str, Any], wait_until(lambda: next(iter(self.cards()), None),
                                               what="a run card"))

    def click(self, user: str, action_id: str, edit: int | None = None,
              ts: str | None = None) -> dict[str, Any]:
        return self.sim.slack.click(user, CHANNEL, ts or self.card()["ts"], action_id, edit)

    def ephemerals(self, user: str) -> list[str]:
        return [texts(e) for e in self.messages()["ephemeral"] if e["user"] == user]

    def wait_ephemeral(self, user: str, part: str) -> str:
        return str(wait_until(lambda: next((e for e in self.ephemerals(user) if part in e), None),
                              what=f"an ephemeral for {user} with {part!r}"))

    def run(self) -> Run:
        runs = self.bot.services.store.recent_runs(next(iter(self.sim.clusters)), 1)
        assert runs, "no run"
        return runs[0]

    def wait_phase(self, phase: Phase, timeout: float = 40.0) -> Run:
        return cast(Run, wait_until(lambda: (r := self.run()).phase is phase and r, timeout,
                                    f"phase {phase}"))

    def wait_button(self, action_id: str, timeout: float = 30.0) -> dict[str, Any]:
        def has() -> dict[str, Any] | None:
            card = self.card()
            return card if f'"action_id": "{action_id}"' in _dump(card["blocks"]) else None
        return cast(dict[str, Any], wait_until(has, timeout, f"button {action_id}"))

    def wait_card(self, part: str, timeout: float = 15.0) -> dict[str, Any]:
        def saying() -> dict[str, Any] | None:
            card = self.card()
            return card if part in texts(card) else None
        return cast(dict[str, Any], wait_until(saying, timeout, f"the card saying {part!r}"))

    def replies(self) -> list[dict[str, Any]]:
        return list(self.card().get("replies", []))

    def upgrade_to_completion(self, timeout: float = 40.0) -> None:
        """alice starts, bob approves, carol rolls, bob completes; waits for Completed."""
        self.command(ALICE, "start aks-sandbox")
        self.wait_button("approve-start")
        self.click(BOB, "approve-start")
        self.wait_phase(Phase.CANARY_READY)
        self.wait_button("approve-roll")
        self.click(CAROL, "approve-roll")
        self.wait_button("approve-complete", timeout=timeout)
        self.click(BOB, "approve-complete")
        self.wait_phase(Phase.COMPLETED, timeout=timeout)


def _dump(blocks: Any) -> str:
    import json

    return json.dumps(blocks)


def bot_for(sim: MeshSim, database_url: str, mode: SlackMode, soak: float = SOAK,
            speed: float = SPEED, cluster: dict[str, Any] | None = None,
            clusters: dict[str, dict[str, Any]] | None = None,
            fleet: dict[str, Any] | None = None) -> Bot:
    """The sandbox's bot; `cluster` overrides keys of every cluster's configuration,
    `clusters` those of the clusters it names, `fleet` those of every fleet."""
    described = sim.describe()
    config = sandbox_config(described, soak, speed, database_url)
    if cluster or clusters or fleet:
        data = config.model_dump()
        data["clusters"] = [{**c, **(cluster or {}), **(clusters or {}).get(c["name"], {})}
                            for c in data["clusters"]]
        data["fleets"] = [{**f, **(fleet or {})} for f in data["fleets"]]
        config = BotConfig.model_validate(data)
    slack = SlackAccess(seed.BOT_TOKEN, seed.APP_TOKEN, seed.SIGNING_SECRET, sim.slack.api_url)
    arm = sim_arm(described)
    return build_bot(config, slack, mode, database_url, Timing(0.1, 0.2), arm=arm)


@contextmanager
def running_bot(tmp_path: Path, mode: SlackMode = SlackMode.SOCKET,
                soak: float = SOAK, cluster: dict[str, Any] | None = None,
                scenario: str = "bookinfo",
                clusters: dict[str, dict[str, Any]] | None = None,
                fleet: dict[str, Any] | None = None) -> Iterator[Harness]:
    with MeshSim(scenario, SPEED, tmp_path / "sim") as sim:
        url = f"sqlite:///{tmp_path / 'bot.db'}"
        bot = bot_for(sim, url, mode, soak, cluster=cluster, clusters=clusters, fleet=fleet)
        bot.start()
        if mode is SlackMode.HTTP:
            sim.slack.configure_app(request_url=bot.request_url)
        else:
            wait_until(lambda: sim.slack.configure_app()["socket_connections"], 10,
                       "a Socket Mode connection")
        try:
            yield Harness(sim, bot, url)
        finally:
            bot.stop()
