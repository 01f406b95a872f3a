"""`mesh-upgrade-bot`: the operator's command line and the bot's composition root.

`SUBCOMMANDS` names each command, its arguments and, as text, the function that runs it: that
module is imported only when its command runs, so `--help` loads argparse alone and `census`
loads the Kubernetes adapter alone; a command with `commands` is a group (`config validate`,
`config schema`). Every error the bot knows is printed as a sentence and a hint, with exit
status 2; no traceback reaches the operator.
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
    arguments: Callable[[argparse.ArgumentParser], None] = arguments.no_args
    target: str = ""  # "module:function", imported when the command runs
    commands: tuple[Subcommand, ...] = ()  # a group's own subcommands

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
    Subcommand("config", "check the configuration file offline, or print its JSON Schema",
               commands=(
        Subcommand("validate", "check a configuration file as `run` would, offline (for CI)",
                   arguments.config_validate_args, "bot.cli.config_cmd:run_validate"),
        Subcommand("schema", "print the JSON Schema of the configuration file (for editors)",
                   target="bot.cli.config_cmd:run_schema"),
    )),
)


class VersionAction(argparse.Action):
    """`--version`: the installed package's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 help: str = "print the version and exit") -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from bot.config.identity import version

        print(f"{parser.prog} {version()}")
        parser.exit()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mesh-upgrade-bot",
                                   description="Canary upgrades of the AKS Istio add-on.")
    root.add_argument("--version", action=VersionAction)
    _add_commands(root, SUBCOMMANDS, "command")
    return root


def _add_commands(parent: argparse.ArgumentParser, subs: Sequence[Subcommand], dest: str
                  ) -> None:
    commands = parent.add_subparsers(dest=dest, required=True, metavar="COMMAND")
    for sub in subs:
        p = commands.add_parser(sub.name, help=sub.help, description=sub.help)
        sub.arguments(p)
        if sub.commands:
            _add_commands(p, sub.commands, f"{dest}_{sub.name}")
        else:
            p.set_defaults(subcommand=sub)


def error_lines(exc: MeshUpgradeError) -> list[str]:
    """A configuration error is one line per problem (`file:line: key: what`), else the message."""
    problems = getattr(exc, "problems", ())
    return [str(p) for p in problems] or [exc.message]


def report_error(exc: MeshUpgradeError, stream: TextIO) -> None:
    """`error: ...` per line, then `hint: ...`: how every command tells an error it knows."""
    for line in error_lines(exc):
        print(f"error: {line}", file=stream)
    if exc.hint:
        print(f"hint: {exc.hint}", file=stream)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line. Azure is reached with DefaultAzureCredential (bot/azure/connect.py),
    the simulated cloud too: its environment names the authority host, tenant and client."""
    args = parser().parse_args(argv)
    from bot.upgrade.errors import MeshUpgradeError

    try:
        code: int = args.subcommand.handler()(args, sys.stdout)
        return code
    except MeshUpgradeError as exc:
        report_error(exc, sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
