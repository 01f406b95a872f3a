"""JSON log lines carry the run and cluster they are about, and never a secret."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from bot.runtime.logs import MASK, log_context, redact, setup_logging

SIGNING = "8f3e2b1c9d7a6f5e4d3c2b1a0f9e8d7c"  # a signing secret has no telltale shape


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    setup_logging("DEBUG", "json", secrets=[SIGNING, None, "short"], stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)


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
