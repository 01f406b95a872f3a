"""`mesh-upgrade-bot sandbox`: the simulators and the bot wired together, for a newcomer.

It starts meshsim (clusters, ARM over HTTPS with its test CA, Slack), then the bot in Socket
Mode against the simulated Slack, ARM reached with the sim's CA and a fixed token, each cluster
through listClusterUserCredential, state in SQLite in a temp dir. Only this command imports
meshsim (lazily): the simulator and its fixed-token credential never reach the product path.
Open the printed page: it shows #mesh-ops, where `/mesh-upgrade start aks-sandbox` as alice,
then bob's approval, runs the whole upgrade. Times are simulated seconds: `--soak 120` at
`--speed 10` soaks 12 real seconds.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import orjson

from bot.azure.connect import ArmEndpoint
from bot.config.settings import BotConfig, SlackMode
from bot.runtime.services import Timing

SANDBOX_CHANNEL = "C0MESHOPS"
APPROVERS = "S0MESHAPPR"
ARM_TOKEN = "meshsim-sandbox-token"


def sandbox_config(described: dict[str, Any], soak: float, speed: float,
                   database_url: str) -> BotConfig:
    """Every simulated cluster posting to #mesh-ops, approved by one of mesh-approvers."""
    real = timedelta(seconds=soak / speed)
    clusters = [{
        "name": c["name"], "subscription_id": c["subscription_id"],
        "resource_group": c["resource_group"], "cluster_name": c["name"],
        "channel": SANDBOX_CHANNEL, "access": {"mode": "arm_credentials"},
        "approvals": {"default": {"groups": [APPROVERS], "required": 1}},
        "soak_time": real, "check_interval": max(real / 4, timedelta(seconds=1)),
        "restart": {"progress_timeout": timedelta(seconds=max(600 / speed, 20))},
    } for c in described["clusters"]]
    return BotConfig.model_validate({"database_url": database_url, "clusters": clusters,
                                     "slack": {"mode": "socket"}})


def run_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    from bot.cli.run import SlackAccess, build_bot, serve_until_stopped
    from meshsim.arm.testing import StaticTokenCredential
    from meshsim.sim import MeshSim
    from meshsim.slack import seed

    if args.speed <= 0 or args.soak < 0:
        raise SystemExit("--speed must be positive and --soak not negative")
    with tempfile.TemporaryDirectory(prefix="mesh-sandbox-") as tmp, \
            MeshSim(args.scenario, args.speed, Path(tmp) / "sim", slack_port=args.port) as sim:
        described = sim.describe()
        url = f"sqlite:///{Path(tmp) / 'bot.db'}"
        config = sandbox_config(described, args.soak, args.speed, url)
        slack = SlackAccess(seed.BOT_TOKEN, seed.APP_TOKEN, seed.SIGNING_SECRET,
                            sim.slack.api_url)
        arm = ArmEndpoint(described["arm"]["url"], described["arm"]["ca_file"],
                          StaticTokenCredential(ARM_TOKEN))
        timing = Timing(drive_every=0.5, max_wait=1.0)
        bot = build_bot(config, slack, SlackMode.SOCKET, url, timing, arm=arm)
        page = described["slack"]["page"]
        banner = (f"Open {page} : #mesh-ops, then type /mesh-upgrade start aks-sandbox\n"
                  + orjson.dumps({**described, "page": page}).decode() + "\n")
        return serve_until_stopped(bot, out, banner)
