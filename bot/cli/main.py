"""`mesh-upgrade-bot`: the operator's command line and the bot's composition root.

`SUBCOMMANDS` names each command, its arguments and, as text, the function that runs it: that
module is imported only when its command runs, so `--help` loads argparse alone and `census`
loads the Kubernetes adapter alone. Every error the bot knows is printed as a sentence and a
hint, with exit status 2; no traceback reaches the operator.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from bot.cli import arguments

if TYPE_CHECKING:
    from bot.upgrade.errors import MeshUpgradeError

Handler = Callable[[argparse.Namespace, TextIO], int]


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    target: str  # "module:function", imported when the command runs

    def handler(self) -> Handler:
        module, _, function = self.target.partition(":")
        found: Handler = getattr(importlib.import_module(module), function)
        return found


SUBCOMMANDS = (
    Subcommand("census", "which Istio revision and proxy version every pod runs",
               arguments.census_args, "bot.cli.reports:run_census"),
    Subcommand("plan", "what an upgrade of a configured cluster would do now",
               arguments.plan_args, "bot.cli.reports:run_plan"),
    Subcommand("status", "the state of a cluster's upgrade run, from the bot's database",
               arguments.cluster_args, "bot.cli.reports:run_status"),
    Subcommand("run", "run the Slack bot (tokens from SLACK_* environment variables)",
               arguments.run_args, "bot.cli.run:run_bot"),
    Subcommand("sandbox", "start meshsim and the bot wired to it; open the printed page",
               arguments.sandbox_args, "bot.cli.sandbox:run_sandbox"),
    Subcommand("doctor", "check the configuration, Slack tokens, ARM and cluster access and RBAC",
               arguments.doctor_args, "bot.runtime.doctor:run_doctor"),
)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mesh-upgrade-bot",
                                   description="Canary upgrades of the AKS Istio add-on.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for sub in SUBCOMMANDS:
        p = commands.add_parser(sub.name, help=sub.help, description=sub.help)
        sub.arguments(p)
        p.set_defaults(subcommand=sub)
    return root


def error_lines(exc: MeshUpgradeError) -> list[str]:
    """A configuration error is one line per problem (`file:line: key: what`), else the message."""
    problems = getattr(exc, "problems", ())
    return [str(p) for p in problems] or [exc.message]


def main(argv: Sequence[str] | None = None) -> int:
    """The command line. Azure is reached with DefaultAzureCredential (bot/azure/connect.py),
    the simulated cloud too: its environment names the authority host, tenant and client."""
    args = parser().parse_args(argv)
    from bot.upgrade.errors import MeshUpgradeError

    try:
        code: int = args.subcommand.handler()(args, sys.stdout)
        return code
    except MeshUpgradeError as exc:
        for line in error_lines(exc):
            print(f"error: {line}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
