"""The arguments of each subcommand, apart from what the commands do, so that building the
parser (and `--help`) loads nothing but argparse.
"""

from __future__ import annotations

import argparse
import os

SLACK_MODES = ("socket", "http")  # bot.config.settings.SlackMode, without loading pydantic
# meshsim's scenarios, without loading meshsim
SCENARIOS = ("bookinfo", "fleet", "large", "entra", "brownfield")
DEFAULT_OPS_PORT = 8080


def census_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", required=True, help="path of the kubeconfig file")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument("--namespace", help="only this namespace")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="the bot's YAML configuration")
    p.add_argument("--cluster", required=True, help="a cluster name from the configuration")
    p.add_argument("--json", action="store_true", help="print JSON")


def plan_args(p: argparse.ArgumentParser) -> None:
    cluster_args(p)
    p.add_argument("--to", help="target revision, e.g. asm-1-23 (default: the next offered)")


def run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="the bot's YAML configuration")
    p.add_argument("--mode", choices=SLACK_MODES,
                   help="Socket Mode or HTTP (default: slack.mode in the configuration)")
    p.add_argument("--port", type=int, default=3000, help="HTTP mode: port of /slack/events")
    p.add_argument("--host", default="0.0.0.0",
                   help="address HTTP mode and the ops endpoints listen on (default: all)")
    p.add_argument("--ops-port", type=int, default=DEFAULT_OPS_PORT,
                   help=f"port of /healthz, /livez and /metrics (default {DEFAULT_OPS_PORT}; "
                        "0: a free port)")
    p.add_argument("--log-level", default=os.environ.get("MESH_UPGRADE_LOG_LEVEL", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)
    p.add_argument("--log-format", choices=["json", "text"], default="json",
                   help="json: one object per line (default); text: for a terminal")
    p.add_argument("--drive-every", type=float, default=1.0,
                   help="seconds between looks at active runs (tests use less)")
    p.add_argument("--max-wait", type=float, default=30.0,
                   help="longest wait before a run is looked at again")


def doctor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="the bot's YAML configuration")
    p.add_argument("--mode", choices=SLACK_MODES,
                   help="check for Socket Mode or HTTP (default: slack.mode in the file)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def sandbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", choices=SCENARIOS, default="bookinfo")
    p.add_argument("--speed", type=float, default=10.0,
                   help="simulated seconds per real second (default 10)")
    p.add_argument("--port", type=int, default=8080,
                   help="port of the Slack page and API (0: a free port)")
    p.add_argument("--soak", type=float, default=120.0,
                   help="verifying period in simulated seconds (default 120)")
