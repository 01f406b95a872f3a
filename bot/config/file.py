"""Reading the configuration file so that every problem names its file, line and key.

People edit the YAML by hand: a repeated key, a secret written into the file, or a value the
schema (settings.py) refuses is reported as `file:line: key: message`, never as a traceback.
PyYAML's nodes keep the line of every key, which the parsed data no longer has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from bot.upgrade.errors import MeshUpgradeError

Loc = tuple[str | int, ...]
_SECRET_KEY = re.compile(r"token|secret|passw|api[_-]?key|private[_-]?key", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^(xox[abposre]|xapp)-")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based; 0 when there is no line (the environment, a missing file)
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(MeshUpgradeError):
    def __init__(self, problems: list[Problem], hint: str = "") -> None:
        text = "Configuration error" + ("s" if len(problems) > 1 else "") + ":\n"
        super().__init__(text + "\n".join(f"  {p}" for p in problems),
                         hint or "Fix the file and start the bot again.")
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}"


def read_yaml(file: str) -> tuple[Any, dict[Loc, int]]:
    """The parsed document, and the line of every key and list item in it."""
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(file, 0, "", exc.strerror or str(exc))]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ConfigError([Problem(file, line, "", f"not valid YAML: {exc.problem}")]) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    _index(node, (), lines, file) if node is not None else None
    return data, lines


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], file: str) -> None:
    """Record the line of every key and list item; a repeated key is an error."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*loc, str(key_node.value))
            if child in lines:
                raise ConfigError([Problem(file, key_node.start_mark.line + 1, _key(child),
                                           f"repeated key (first on line {lines[child]})")])
            lines[child] = key_node.start_mark.line + 1
            _index(value_node, child, lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), lines, file)


def secrets_in_file(file: str, data: Any, lines: dict[Loc, int], loc: Loc = ()) -> list[Problem]:
    """Every key that names a secret, or value that looks like one (a Slack token, a URL
    with a password): secrets come only from the environment."""
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _secret_item(file, v, lines, (*loc, str(k)))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in secrets_in_file(file, v, lines, (*loc, i))]
    return []


def _secret_item(file: str, value: Any, lines: dict[Loc, int], loc: Loc) -> list[Problem]:
    name = str(loc[-1])
    if _SECRET_KEY.search(name) or (isinstance(value, str) and _looks_secret(name, value)):
        return [Problem(file, _line(lines, loc), _key(loc),
                        "looks like a secret; set it in the environment instead "
                        "(SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, "
                        "MESH_UPGRADE_DATABASE_URL)")]
    return secrets_in_file(file, value, lines, loc)


def _looks_secret(name: str, value: str) -> bool:
    has_password = name == "database_url" and urlsplit(value).password is not None
    return bool(_SECRET_VALUE.match(value)) or has_password


def validation_problems(file: str, lines: dict[Loc, int], exc: ValidationError
                        ) -> list[Problem]:
    """pydantic's errors as problems at the line of their key, the most specific only."""
    return [_problem(file, lines, e) for e in _most_specific(exc)]


def _most_specific(exc: ValidationError) -> list[Any]:
    """Drop an error on a list or model when one of its items has its own error: a failed
    item also makes pydantic report the list "too short", which only misleads."""
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    return [e for e, loc in zip(errors, locs, strict=True)
            if not any(len(o) > len(loc) and o[:len(loc)] == loc for o in locs)]


def _problem(file: str, lines: dict[Loc, int], error: Any) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    message = "unknown key" if kind == "extra_forbidden" else error["msg"]
    if kind not in ("missing", "extra_forbidden") and isinstance(error.get("input"),
                                                               str | int | float):
        message += f" (got {error['input']!r})"
    return Problem(file, _line(lines, loc), _key(loc), message.removeprefix("Value error, "))


def _line(lines: dict[Loc, int], loc: Loc) -> int:
    """The line of `loc`, or of its nearest ancestor in the file (a missing key)."""
    while loc not in lines and loc:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _key(loc: Loc) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return text or "(top level)"
