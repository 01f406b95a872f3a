"""JSON log lines carry the run and cluster they are about, and never a secret."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.cli.main import parser
from bot.runtime.logs import MASK, QUIET, log_context, parse_levels, redact, setup_logging

SIGNING = "8f3e2b1c9d7a6f5e4d3c2b1a0f9e8d7c"  # a signing secret has no telltale shape


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    with logging_to(stream, ["DEBUG", "slack_sdk=DEBUG"], secrets=[SIGNING, None, "short"]):
        yield stream


@contextmanager
def logging_to(stream: io.StringIO, levels: list[str], fmt: str = "json",
               secrets: list[str | None] | None = None) -> Iterator[None]:
    """setup_logging for one test; the root's handlers and the libraries' levels restored."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    named = {name: logging.getLogger(name).level for name in (*QUIET, "azure.core")}
    setup_logging(levels, fmt, secrets=secrets or [], stream=stream)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
        for name, was in named.items():
            logging.getLogger(name).setLevel(was)


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(("text", "secret"), [
    ("headers: {'Authorization': 'Bearer xoxb-123-456-abcdef'}", "xoxb-123-456-abcdef"),
    ("token=xapp-1-A0B-123-deadbeef&x=1", "xapp-1-A0B-123-deadbeef"),
    ("user token xoxp-99-88-77 leaked", "xoxp-99-88-77"),
    ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig", "eyJhbGciOiJSUzI1NiJ9"),
    ("{'authorization': 'bearer meshsim-e2e-token'}", "meshsim-e2e-token"),
    ("postgresql+psycopg://bot:s3cr3t-pass@db:5432/mesh", "s3cr3t-pass"),
    ('{"token": "meshsimverificationtoken", "team_id": "T0"}', "meshsimverificationtoken"),
    ("signing_secret=abcdef0123456789", "abcdef0123456789"),
    ("client_secret: 'Zx9~abc.def'", "Zx9~abc.def"),
])
def test_redact_masks_tokens_bearers_url_passwords_and_secret_fields(text: str,
                                                                     secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert MASK in masked


def test_redact_keeps_ordinary_text() -> None:
    text = "run 7 on aks-sandbox: asm-1-22 -> asm-1-23, 3 workloads restarted"
    assert redact(text) == text


def test_json_line_has_time_level_logger_message_and_context(lines: io.StringIO) -> None:
    log = logging.getLogger("bot.test")
    log.info("outside")
    with log_context(run_id=7, cluster="aks-sandbox"):
        log.warning("step %s done", "tags")
        with log_context(cluster="aks-east"):
            log.info("nested")
    got = records(lines)
    assert set(got[0]) == {"time", "level", "logger", "message"}
    assert got[1] == {"time": got[1]["time"], "level": "WARNING", "logger": "bot.test",
                      "message": "step tags done", "run_id": 7, "cluster": "aks-sandbox"}
    assert (got[2]["run_id"], got[2]["cluster"]) == (7, "aks-east")
    assert str(got[1]["time"]).endswith("+00:00")


def test_context_does_not_leak_into_other_threads(lines: io.StringIO) -> None:
    log = logging.getLogger("bot.test")
    with log_context(run_id=3, cluster="c"):
        thread = threading.Thread(target=lambda: log.info("elsewhere"))
        thread.start()
        thread.join()
    [line] = records(lines)
    assert line["message"] == "elsewhere" and "run_id" not in line and "cluster" not in line


def test_secrets_in_arguments_and_tracebacks_are_masked(lines: io.StringIO) -> None:
    log = logging.getLogger("slack_sdk.web.base_client")
    log.debug("Sending a request - body_params: %s", {"token": "xoxb-1-2-secretvalue"})
    log.debug("verifying with %s", SIGNING)
    try:
        raise RuntimeError(f"connect failed for https://user:hunter2hunter2@example.org {SIGNING}")
    except RuntimeError:
        log.exception("boom")
    text = lines.getvalue()
    for secret in ("xoxb-1-2-secretvalue", SIGNING, "hunter2hunter2"):
        assert secret not in text
    logged = records(lines)
    assert [r["message"].split(" ")[0] for r in logged] == ["Sending", "verifying", "boom"]
    assert all(MASK in str(r["message"]) for r in logged[:2])
    last = logged[-1]
    assert "RuntimeError" in str(last["exception"]) and MASK in str(last["exception"])


def test_text_format_masks_too() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        setup_logging("INFO", "text", secrets=[SIGNING], stream=stream)
        logging.getLogger("x").info("secret %s and xoxb-1-2-3", SIGNING)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
    text = stream.getvalue()
    assert SIGNING not in text and "xoxb-1-2-3" not in text
    assert "secret " in text and text.count(MASK) == 2  # the line was written, both masked
    assert not text.startswith("{")


def test_libraries_log_only_warnings_by_default_even_where_they_pin_their_own_level() -> None:
    stream = io.StringIO()
    with logging_to(stream, ["DEBUG"]):
        bolt = logging.getLogger("slack_bolt.App")
        bolt.setLevel(logging.INFO)  # what Bolt does to each of its loggers (slack_bolt/logger)
        bolt.info("A new session has been established")
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").info("Request URL")
        logging.getLogger("urllib3.connectionpool").info("Starting new HTTPS connection")
        logging.getLogger("azure.identity").warning("token refresh failed")
        logging.getLogger("bot.runtime.driver").debug("own debug line")
    got = [(r["logger"], r["level"]) for r in records(stream)]
    assert got == [("azure.identity", "WARNING"), ("bot.runtime.driver", "DEBUG")]


def test_a_named_library_logs_at_the_level_asked_and_the_others_stay_quiet() -> None:
    stream = io.StringIO()
    with logging_to(stream, ["WARNING", "azure=DEBUG"]):
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").debug("Request")
        logging.getLogger("urllib3.connectionpool").info("Starting new HTTPS connection")
        logging.getLogger("bot.events").info("run 1 on c: requested")
    assert [(r["logger"], r["level"]) for r in records(stream)] == [
        ("azure.core.pipeline.policies.http_logging_policy", "DEBUG")]


def test_warnings_that_say_nothing_is_wrong_are_debug() -> None:
    stream = io.StringIO()
    with logging_to(stream, ["INFO"]):
        logging.getLogger("slack_bolt.App").warning(
            "As you gave `client` as well, `token` will be unused.")
        logging.getLogger("apscheduler.scheduler").warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
            "drive-runs", 1)
        logging.getLogger("slack_bolt.App").warning("Failed to establish a connection")
    assert [r["message"] for r in records(stream)] == ["Failed to establish a connection"]
    loud = io.StringIO()
    with logging_to(loud, ["INFO", "slack_bolt=DEBUG"]):
        logging.getLogger("slack_bolt.App").warning(
            "As you gave `client` as well, `token` will be unused.")
    assert [r["level"] for r in records(loud)] == ["DEBUG"]


def test_event_fields_are_written_and_their_detail_masked(lines: io.StringIO) -> None:
    logging.getLogger("bot.events").info("run 4 on c: paused", extra={
        "event": "paused", "run_id": 4, "cluster": "c", "phase": "rolling", "user": "U0BOB",
        "detail": {"reason": f"Slack said invalid token xoxb-9-9-abc ({SIGNING})",
                   "waves": ["a", {"note": "token=abcdef123456"}]}})
    [line] = records(lines)
    assert {k: line[k] for k in ("event", "run_id", "cluster", "phase", "user")} == {
        "event": "paused", "run_id": 4, "cluster": "c", "phase": "rolling", "user": "U0BOB"}
    text = lines.getvalue()
    assert "xoxb-9-9-abc" not in text and SIGNING not in text and "abcdef123456" not in text
    assert line["detail"]["waves"][0] == "a"  # type: ignore[index]


def test_log_levels_are_parsed_from_flags_and_the_environment_form(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_levels(["INFO"]) == ("INFO", {})
    assert parse_levels(["debug", "azure=DEBUG,urllib3=error"]) == (
        "DEBUG", {"azure": "DEBUG", "urllib3": "ERROR"})
    for bad in ("LOUD", "=DEBUG", "azure=LOUD"):
        with pytest.raises(ValueError, match="LOGGER=LEVEL"):
            parse_levels([bad])
    args = parser().parse_args(["run", "--config", "c.yaml", "--log-level", "INFO",
                                "--log-level", "azure=DEBUG"])
    assert args.log_level == ["INFO", "azure=DEBUG"]
    monkeypatch.setenv("MESH_UPGRADE_LOG_LEVEL", "WARNING,azure=INFO")
    assert parser().parse_args(["run", "--config", "c.yaml"]).log_level == ("WARNING,azure=INFO",)
    monkeypatch.delenv("MESH_UPGRADE_LOG_LEVEL")
    assert parser().parse_args(["run", "--config", "c.yaml"]).log_level == ("INFO",)
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--config", "c.yaml", "--log-level", "azure=LOUD"])
