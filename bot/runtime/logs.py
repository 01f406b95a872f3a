"""The bot's logs: one JSON object per line, with the run and cluster when known, no secrets.

Levels: `--log-level INFO` sets the bot's own loggers; the third-party ones in QUIET log only
WARNING and above unless named (`--log-level azure=DEBUG`, or MESH_UPGRADE_LOG_LEVEL=
"INFO,azure=DEBUG"): azure-core alone logs every request and response at INFO. The workflow's
events (bot/runtime/events.py) add `event`, `phase`, `user` and `detail` to their lines.

`log_context(run_id=..., cluster=...)` sets contextvars that every record made inside it
carries (threads started inside copy nothing: each worker sets its own). `RedactSecrets` is a
handler filter that rewrites the message and the traceback before any formatter sees them:
Slack tokens, bearer tokens, URL passwords and `secret=`/`token=` values by pattern, and the
exact secret values the bot was given (a signing secret has no recognisable shape). At DEBUG,
slack_sdk and azure-core log request details, so this filter is what keeps tokens out.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

MASK = "[redacted]"
_RUN_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("run_id", default=None)
_CLUSTER: contextvars.ContextVar[str | None] = contextvars.ContextVar("cluster", default=None)
_PATTERNS = (
    # Slack tokens: bot, user, app-level, refresh, config tokens.
    (re.compile(r"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]+"), MASK),
    # Authorization headers and bearer tokens, however they are quoted.
    (re.compile(r"(?i)\b(bearer|basic)(\s+|['\"]?\s*[:,]\s*['\"]?)[A-Za-z0-9._~+/=-]{6,}"),
     rf"\1\2{MASK}"),
    # user:password@ in URLs (database URLs, proxies).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)[^@\s/'\"]+@"), rf"\1{MASK}@"),
    # key=value and "key": "value" for keys that name a secret.
    (re.compile(r"(?i)(\b[\w-]*(?:secret|password|passwd|token|api[_-]?key|signature)"
                r"['\"]?\s*[:=]\s*['\"]?)(?!\[redacted\])[^\s'\",&}]{4,}"), rf"\1{MASK}"),
)
_MIN_LITERAL = 8  # shorter "secrets" would mask ordinary words
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Libraries that log at INFO what an operator never needs (azure-core: every HTTP request and
# response; Bolt and slack_sdk: each Socket Mode session; apscheduler: every job run).
QUIET = ("azure", "msal", "urllib3", "kubernetes", "slack_bolt", "slack_sdk", "apscheduler",
         "websocket", "leaderelection")
EVENT_FIELDS = ("event", "run_id", "cluster", "phase", "user", "detail")
# Warnings that say nothing is wrong, demoted to DEBUG (logger prefix, start of the message):
_NOT_WARNINGS = (
    # Bolt reads SLACK_BOT_TOKEN from the environment even when given a client, then warns
    # at every start that the token is unused (slack_bolt/app/app.py, App.__init__).
    ("slack_bolt", "As you gave `client` as well, `token` will be unused."),
    # A job still running when it is due again is skipped: max_instances=1 is the design
    # (bot/runtime/scheduler.py), and the next firing does the work.
    ("apscheduler", 'Execution of job "%s" skipped: maximum number of running instances'),
)


def parse_levels(specs: Iterable[str]) -> tuple[str, dict[str, str]]:
    """`["INFO", "azure=DEBUG,urllib3=ERROR"]` -> ("INFO", {"azure": "DEBUG", ...}): the
    level of the bot's own loggers (the last bare level given) and per-logger overrides."""
    level, overrides = "INFO", {}
    for part in (p.strip() for spec in specs for p in spec.split(",") if p.strip()):
        name, _, value = part.rpartition("=")
        if value.upper() not in LEVELS or (_ and not name.strip()):
            raise ValueError(f"{part!r} is not LEVEL or LOGGER=LEVEL (LEVEL one of "
                             f"{', '.join(LEVELS)})")
        if name:
            overrides[name.strip()] = value.upper()
        else:
            level = value.upper()
    return level, overrides


def redact(text: str, literals: Iterable[str] = ()) -> str:
    for value in literals:
        text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message and traceback (attach it to every handler)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self._literals = sorted({s for s in secrets if s and len(s) >= _MIN_LITERAL},
                                key=len, reverse=True)
        self._render = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self._literals), None
        detail = getattr(record, "detail", None)
        if detail:
            record.__dict__["detail"] = _redact_all(detail, self._literals)
        if record.exc_info and not record.exc_text:
            record.exc_text = self._render.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._literals)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._literals)
        return True


def _redact_all(value: Any, literals: Iterable[str]) -> Any:
    if isinstance(value, str):
        return redact(value, literals)
    if isinstance(value, Mapping):
        return {k: _redact_all(v, literals) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_all(v, literals) for v in value]
    return value


class LoggerLevels(logging.Filter):
    """The configured level of each library, enforced at the handler: Bolt copies the root
    logger's level onto each of its loggers when it makes them (slack_bolt/logger), so a
    level set on `slack_bolt` alone would not hold."""

    def __init__(self, levels: Mapping[str, int]) -> None:
        super().__init__()
        self._levels = sorted(levels.items(), key=lambda item: -len(item[0]))  # longest first

    def filter(self, record: logging.LogRecord) -> bool:
        for name, level in self._levels:
            if record.name == name or record.name.startswith(name + "."):
                return record.levelno >= level
        return True


class NotWarnings(logging.Filter):
    """Libraries' warnings that say nothing is wrong (_NOT_WARNINGS) become DEBUG records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and isinstance(record.msg, str) and any(
                record.name.startswith(name) and record.msg.startswith(text)
                for name, text in _NOT_WARNINGS):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


class WithContext(logging.Filter):
    """Copies the current run id and cluster onto the record (unless `extra` set them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "run_id", None) is None:
            record.run_id = _RUN_ID.get()
        if getattr(record, "cluster", None) is None:
            record.cluster = _CLUSTER.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key in EVENT_FIELDS:
            value = getattr(record, key, None)
            if value is not None and value != {}:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


@contextmanager
def log_context(run_id: int | None = None, cluster: str | None = None) -> Iterator[None]:
    """Within the block, log records carry `run_id` and `cluster` (those given)."""
    run_token = _RUN_ID.set(run_id) if run_id is not None else None
    cluster_token = _CLUSTER.set(cluster) if cluster is not None else None
    try:
        yield
    finally:
        if cluster_token is not None:
            _CLUSTER.reset(cluster_token)
        if run_token is not None:
            _RUN_ID.reset(run_token)


def setup_logging(levels: str | Sequence[str] = "INFO", fmt: str = "json",
                  secrets: Iterable[str | None] = (),
                  stream: TextIO | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one that redacts, adds context, and formats;
    `levels` as `parse_levels` reads them."""
    level, overrides = parse_levels([levels] if isinstance(levels, str) else levels)
    quiet = max(logging.WARNING, logging.getLevelNamesMapping()[level])
    named = {**dict.fromkeys(QUIET, quiet),
             **{name: logging.getLevelNamesMapping()[value] for name, value in overrides.items()}}
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(NotWarnings())  # first: the levels below judge the demoted record
    handler.addFilter(LoggerLevels(named))
    handler.addFilter(RedactSecrets(secrets))
    handler.addFilter(WithContext())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, value in named.items():  # records below these are not even made
        logging.getLogger(name).setLevel(value)
    return handler
