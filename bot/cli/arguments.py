"""The arguments of each subcommand, apart from what the commands do, so that building the
parser (and `--help`) loads nothing but argparse.
"""

from __future__ import annotations

import argparse
import os

SLACK_MODES = ("socket", "http")  # bot.config.settings.SlackMode, without loading pydantic
# meshsim's scenarios, without loading meshsim
SCENARIOS = ("bookinfo", "fleet", "fleet50", "large", "entra", "brownfield")
DEFAULT_OPS_PORT = 8080
LOG_LEVEL_ENV = "MESH_UPGRADE_LOG_LEVEL"  # e.g. "INFO,azure=DEBUG"


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


class LogLevels(argparse.Action):
    """`--log-level` may be repeated; given at all, it replaces the default."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        given = getattr(namespace, self.dest)
        setattr(namespace, self.dest, [*(given if isinstance(given, list) else []), values])


def log_level(text: str) -> str:
    """LEVEL or LOGGER=LEVEL (comma-separated), checked by the parser that will read it."""
    from bot.runtime.logs import parse_levels

    try:
        parse_levels([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def log_args(p: argparse.ArgumentParser, level: str, fmt: str) -> None:
    p.add_argument("--log-level", default=(level,), action=LogLevels, type=log_level,
                   metavar="[LOGGER=]LEVEL",
                   help=f"DEBUG, INFO, WARNING or ERROR for the bot's own logs (default {level}"
                        f"; ${LOG_LEVEL_ENV} for `run`); LOGGER=LEVEL for one library, e.g. "
                        "azure=DEBUG (repeatable). Libraries log only warnings unless named: "
                        "azure, msal, urllib3, kubernetes, slack_bolt, slack_sdk, apscheduler")
    p.add_argument("--log-format", choices=["json", "text"], default=fmt,
                   help=f"json: one object per line; text: for a terminal (default {fmt})")


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
    log_args(p, os.environ.get(LOG_LEVEL_ENV) or "INFO", "json")
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
    p.add_argument("--traffic-window", type=float, default=10.0,
                   help="traffic gates' baseline and observation windows in real seconds "
                        "(default 10, at least 5), when Prometheus is on the PATH")
    p.add_argument("--no-traffic", action="store_true",
                   help="no Prometheus and no traffic gates, even if Prometheus is installed")
    log_args(p, "INFO", "text")


def config_validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="the bot's YAML configuration (clusters.yaml)")
    p.epilog = ("Offline: the checks and messages of `run` loading the file, nothing else. "
                "Exit status 0: valid; 1: invalid (every problem printed as "
                "FILE:LINE: KEY: what is wrong); 3: the file cannot be read.")


def no_args(p: argparse.ArgumentParser) -> None:
    return None
