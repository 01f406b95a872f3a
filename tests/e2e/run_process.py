"""`mesh-upgrade-bot run` as a real child process against meshsim in the test process.

The child gets its secrets from the environment only, like in production, and prints one banner
line with its endpoints; its JSON logs go to a file the tests read afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.cli.sandbox import sandbox_config
from meshsim.sim import MeshSim
from meshsim.slack import seed
from tests.e2e.slack_harness import wait_until
from tests.sim_bot import COMMAND as SIM_BOT
from tests.sim_bot import ROOT, bot_env

BOT = Path(sys.executable).parent / "mesh-upgrade-bot"  # the console script, for runs without ARM
SPEED = 20.0  # simulated seconds per real second (the tests give 3 real s to ack)
_BANNER = re.compile(r"running \((\w+) mode(?:, (http://\S+/slack/events))?, ops (http://\S+)\)")


@dataclass
class RunningBot:
    process: subprocess.Popen[bytes]
    ops_url: str
    events_url: str | None
    log: Path
    database: Path

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.ops_url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def write_config(sim: MeshSim, tmp_path: Path) -> tuple[Path, Path]:
    database = tmp_path / "bot.db"
    config = sandbox_config(sim.describe(), 60, SPEED, f"sqlite:///{database}")
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return path, database


def secrets_env(sim: MeshSim) -> dict[str, str]:
    """The bot's secrets and its Azure identity (the simulated tenant's), from the environment
    only, as in production."""
    return {"SLACK_BOT_TOKEN": seed.BOT_TOKEN, "SLACK_APP_TOKEN": seed.APP_TOKEN,
            "SLACK_SIGNING_SECRET": seed.SIGNING_SECRET,
            "MESH_UPGRADE_SLACK_API_URL": sim.slack.api_url, **bot_env(sim.describe())}


def secret_strings(sim: MeshSim) -> list[str]:
    """Every secret the simulators hand out, the bot's client secret among them."""
    return [*seed.tokens().values(), sim.describe()["entra"]["client_secret"]]


def start_bot(sim: MeshSim, tmp_path: Path, mode: str, *extra: str) -> RunningBot:
    config, database = write_config(sim, tmp_path)
    log, out = tmp_path / f"bot-{mode}.log", tmp_path / f"bot-{mode}.out"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "MESH_UPGRADE_", "AZURE_"))}
    with log.open("wb") as err, out.open("wb") as stdout:
        child = subprocess.Popen(
            [*SIM_BOT, "run", "--config", str(config), "--mode", mode, "--host", "127.0.0.1",
             "--port", "0", "--ops-port", "0", "--drive-every", "0.1", "--max-wait", "0.2",
             *extra], env={**env, **secrets_env(sim)}, stdout=stdout, stderr=err, cwd=ROOT)

    def banner() -> Any:
        if child.poll() is not None:
            raise AssertionError(f"the bot exited:\n{log.read_text()[-3000:]}")
        return _BANNER.search(out.read_text())

    found = wait_until(banner, 30, "the bot's banner")
    return RunningBot(child, found[3], found[2], log, database)
