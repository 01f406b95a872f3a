"""`mesh-upgrade-bot sandbox`: the simulators and the bot wired together, for a newcomer.

It starts meshsim (clusters, ARM and Entra ID over HTTPS with its test CA, Slack), then the bot
in Socket Mode against the simulated Slack, each cluster through listClusterUserCredential,
state in SQLite in a temp dir. The bot authenticates as in production: this process exports
the environment DefaultAzureCredential reads (AZURE_TENANT_ID, AZURE_CLIENT_ID,
AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST at the simulated tenant, REQUESTS_CA_BUNDLE for its
CA), and `--scenario entra` makes the cluster an Entra ID one. Only this command imports
meshsim (lazily); the product path has no simulator and no shortcut credential.
Open the printed page: it shows #mesh-ops, where `/mesh-upgrade start aks-sandbox` as alice,
then bob's approval, runs the whole upgrade; with `--scenario fleet`, `/mesh-upgrade fleet
start fleet` takes the scenario's target through the rings. Times are simulated seconds:
`--soak 120` at `--speed 10` soaks 12 real seconds. When Debian's `prometheus` is on the PATH,
a real Prometheus scrapes meshsim's proxies and the clusters get traffic gates; otherwise one
line says they are off and how to turn them on.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import orjson

from bot.azure.connect import ArmEndpoint
from bot.config.settings import BotConfig, SlackMode
from bot.runtime.services import Timing

SANDBOX_CHANNEL = "C0MESHOPS"
APPROVERS = "S0MESHAPPR"


def sandbox_config(described: dict[str, Any], soak: float, speed: float,
                   database_url: str, prometheus: str | None = None,
                   traffic_window: float = 10.0) -> BotConfig:
    """Every simulated cluster posting to #mesh-ops, approved by one of mesh-approvers; with
    `prometheus` (its URL), traffic gates read from it over `traffic_window` real seconds."""
    real = timedelta(seconds=soak / speed)
    clusters = [{
        "name": c["name"], "subscription_id": c["subscription_id"],
        "resource_group": c["resource_group"], "cluster_name": c["name"],
        "channel": SANDBOX_CHANNEL, "access": {"mode": "arm_credentials"},
        "namespaces": {"exclude": c.get("exclude", [])},
        "approvals": {"default": {"groups": [APPROVERS], "required": 1}},
        "soak_time": real, "check_interval": max(real / 4, timedelta(seconds=1)),
        "restart": {"progress_timeout": timedelta(seconds=max(600 / speed, 20))},
        **({"traffic": traffic_config(prometheus, c["name"], traffic_window)}
           if prometheus else {}),
    } for c in described["clusters"]]
    return BotConfig.model_validate({"database_url": database_url, "clusters": clusters,
                                     "fleets": sandbox_fleets(described, real),
                                     "slack": {"mode": "socket"}})


RINGS = ("dev", "staging", "prod")


def sandbox_fleets(described: dict[str, Any], soak: timedelta) -> list[dict[str, Any]]:
    """The `fleet` scenario's clusters (aks-<ring>-...) as one fleet, `fleet`, aimed at the
    scenario's `fleet_target` (so `fleet start fleet` needs no `--to`), in rings that soak as
    long as a cluster's canary does (`soak` is already in real time)."""
    names = [c["name"] for c in described["clusters"]]
    rings = [{"name": ring, "clusters": [n for n in names if n.startswith(f"aks-{ring}-")],
              "max_parallel": 2, "soak": soak} for ring in RINGS]
    rings = [r for r in rings if r["clusters"]]
    if len(rings) < 2:
        return []
    target = {"target": described["fleet_target"]} if "fleet_target" in described else {}
    return [{"name": "fleet", "channel": SANDBOX_CHANNEL, "rings": rings, **target,
             "promotion": {"groups": [APPROVERS], "required": 1}}]


def first_step(config: BotConfig) -> str:
    """What the start banner tells a newcomer to type: the fleet run when there is a fleet."""
    if config.fleets:
        return f"/mesh-upgrade fleet start {config.fleets[0].name}"
    return f"/mesh-upgrade start {config.clusters[0].name}"


def traffic_config(url: str, cluster: str, window: float) -> dict[str, Any]:
    """Gates on the cluster's series (the scrape labels them as managed Prometheus does)."""
    seconds = timedelta(seconds=window)
    return {"source": {"kind": "prometheus", "url": url, "labels": {"cluster": cluster}},
            "baseline_window": seconds, "observation_window": seconds}


def run_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    from bot.cli.run import SlackAccess, build_bot, serve_until_stopped
    from bot.runtime.logs import setup_logging
    from meshsim.sim import MeshSim, azure_environment
    from meshsim.slack import seed

    if args.speed <= 0 or args.soak < 0 or args.traffic_window < 5:
        raise SystemExit("--speed must be positive, --soak not negative and --traffic-window "
                         "at least 5 (seconds)")
    from meshsim.prometheus import PrometheusServer

    with tempfile.TemporaryDirectory(prefix="mesh-sandbox-") as tmp, ExitStack() as stack:
        sim = stack.enter_context(MeshSim(args.scenario, args.speed, Path(tmp) / "sim",
                                          slack_port=args.port))
        described = sim.describe()
        prometheus = None
        if args.no_traffic:
            gates = "Traffic gates are off (--no-traffic)."
        elif PrometheusServer.available():
            prometheus = stack.enter_context(
                PrometheusServer(described["telemetry"], Path(tmp) / "prometheus")).url
            gates = (f"Traffic gates: a real Prometheus at {prometheus} scrapes the simulated "
                     "proxies every second.")
        else:
            gates = ("Traffic gates are off: no `prometheus` on the PATH (Debian: apt-get "
                     "install prometheus), then start the sandbox again.")
        url = f"sqlite:///{Path(tmp) / 'bot.db'}"
        config = sandbox_config(described, args.soak, args.speed, url, prometheus,
                                args.traffic_window)
        slack = SlackAccess(seed.BOT_TOKEN, seed.APP_TOKEN, seed.SIGNING_SECRET,
                            sim.slack.api_url)
        os.environ.update(azure_environment(described))  # as an operator would export them
        setup_logging(args.log_level, args.log_format,
                      [*seed.tokens().values(), described["entra"]["client_secret"]])
        arm = ArmEndpoint(described["arm"]["url"], described["arm"]["ca_file"])
        timing = Timing(drive_every=0.5, max_wait=1.0)
        bot = build_bot(config, slack, SlackMode.SOCKET, url, timing, arm=arm)
        page = described["slack"]["page"]
        banner = (f"Open {page} : #mesh-ops, then type {first_step(config)} as alice; "
                  "bob or carol approve (pick them in \"as\")\n"
                  f"{gates}\n"
                  + orjson.dumps({**described, "page": page, "prometheus": prometheus}).decode()
                  + "\n")
        return serve_until_stopped(bot, out, banner)
