"""Reading the configuration file so that every problem names its file, line and key.

People edit the YAML by hand: a repeated key, a secret written into the file, or a value the
schema (settings.py) refuses is reported as `file:line: key: message`, never as a traceback.
PyYAML's nodes keep the line of every key, which the parsed data no longer has; the raw text
is kept too, for the Slack names YAML swallows (bot/config/yaml_hints.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from bot.config.yaml_hints import commented_name, lost_to_comment, yaml_error_hint
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
        super().__init__(text + "\n".join(f"  {p}" for p in problems), hint or (
            "Fix the file, then check it again: mesh-upgrade-bot config validate FILE"))
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}"


class UnreadableConfig(ConfigError):
    """The file could not be read at all (missing, a directory, no permission, not UTF-8)."""


@dataclass(frozen=True)
class YamlFile:
    file: str
    text: str
    data: Any
    lines: dict[Loc, int]  # the line of every key and list item


def read_yaml(file: str) -> YamlFile:
    """The parsed document, its text, and the line of every key and list item in it."""
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise UnreadableConfig([Problem(file, 0, "", exc.strerror or str(exc))],
                               "Check the path and that the file is readable.") from None
    except UnicodeDecodeError as exc:
        raise UnreadableConfig([Problem(file, 0, "", f"not UTF-8 text ({exc.reason} at byte "
                                                     f"{exc.start})")],
                               "Save the file as UTF-8.") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_yaml_problem(file, text, exc)]) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    _index(node, (), lines, file) if node is not None else None
    return YamlFile(file, text, data, lines)


def _yaml_problem(file: str, text: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark
    if mark is None:
        return Problem(file, 0, "", f"not valid YAML: {exc.problem}")
    hint = yaml_error_hint(text, mark.line, mark.column)
    return Problem(file, mark.line + 1, "", f"not valid YAML: {exc.problem}"
                   + (f"; {hint}" if hint else ""))


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


def validation_problems(doc: YamlFile, exc: ValidationError) -> list[Problem]:
    """pydantic's errors as problems at the line of their key, the most specific only."""
    return [_problem(doc, e) for e in _most_specific(exc)]


def _most_specific(exc: ValidationError) -> list[Any]:
    """Drop an error on a list or model when one of its items has its own error: a failed
    item also makes pydantic report the list "too short", which only misleads."""
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    return [e for e, loc in zip(errors, locs, strict=True)
            if not any(len(o) > len(loc) and o[:len(loc)] == loc for o in locs)]


def _problem(doc: YamlFile, error: Any) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    message = "unknown key" if kind == "extra_forbidden" else error["msg"]
    if kind not in ("missing", "extra_forbidden") and isinstance(error.get("input"),
                                                               str | int | float):
        message += f" (got {error['input']!r})"
    if error.get("input", "") is None and (lost := _lost_name(doc, loc)):
        message = lost
    line = _line(doc.lines, loc)
    return Problem(doc.file, line, _key(loc), message.removeprefix("Value error, "))


def _lost_name(doc: YamlFile, loc: Loc) -> str | None:
    """For a null value: what to do when its line shows a `#name` YAML read as a comment."""
    if loc not in doc.lines:
        return None
    text = doc.text.splitlines()
    number = doc.lines[loc] - 1
    name = commented_name(text[number]) if number < len(text) else None
    key = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
    return lost_to_comment(key, name) if name else None


def _line(lines: dict[Loc, int], loc: Loc) -> int:
    """The line of `loc`, or of its nearest ancestor in the file (a missing key)."""
    while loc not in lines and loc:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _key(loc: Loc) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return text or "(top level)"
