"""The bot's logs: one JSON object per line, with the run and cluster when known, no secrets.

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
from collections.abc import Iterable, Iterator
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
        if record.exc_info and not record.exc_text:
            record.exc_text = self._render.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._literals)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._literals)
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
        for key in ("run_id", "cluster"):
            value = getattr(record, key, None)
            if value is not None:
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


def setup_logging(level: str = "INFO", fmt: str = "json", secrets: Iterable[str | None] = (),
                  stream: TextIO | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one that redacts, adds context, and formats."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactSecrets(secrets))
    handler.addFilter(WithContext())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if level.upper() != "DEBUG":
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per drive tick
    return handler
