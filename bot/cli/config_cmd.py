"""`mesh-upgrade-bot config validate FILE` and `config schema`: the configuration file checked
offline (in CI, before a deploy) and described for editors.

`validate` runs exactly what `run` runs on the file (bot.config.settings.load_config: YAML,
repeated keys, secrets in the file, the schema) and prints the same `error: FILE:LINE: KEY:
what` lines; it reads no environment and opens no connection. Its exit status tells CI which
failure it is: 0 valid, 1 invalid, 3 unreadable (argparse keeps 2 for a wrong command line).
`schema` prints the JSON Schema of the pydantic models, for yaml-language-server's
`# yaml-language-server: $schema=...` line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from bot.cli.main import report_error
from bot.config.file import ConfigError, UnreadableConfig
from bot.config.settings import config_schema, load_config

VALID, INVALID, UNREADABLE = 0, 1, 3


def run_validate(args: argparse.Namespace, out: TextIO) -> int:
    try:
        config = load_config(args.file)
    except UnreadableConfig as exc:
        report_error(exc, sys.stderr)
        return UNREADABLE
    except ConfigError as exc:
        report_error(exc, sys.stderr)
        return INVALID
    names = ", ".join(c.name for c in config.clusters)
    out.write(f"{args.file}: valid ({len(config.clusters)} cluster(s): {names})\n")
    return VALID


def run_schema(args: argparse.Namespace, out: TextIO) -> int:
    out.write(json.dumps(config_schema(), indent=2) + "\n")
    return VALID
