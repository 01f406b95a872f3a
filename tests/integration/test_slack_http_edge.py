"""The bot's HTTP endpoint under what Slack never sends (issue 10, recipes 3 and 8): unsigned or
malformed requests are refused before anything is parsed, dispatched or called back; a broken
body gets 400 and one JSON log line; a connection that sends nothing is dropped."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.config.settings import SlackMode
from bot.runtime.bot import Bot
from bot.slack import server as slack_server
from meshsim.slack import seed
from meshsim.slack.testing import RunningSlack
from tests.integration.test_slack_app import _bot, _command


class _Catcher(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:
        self.hits.append(self.rfile.read(int(self.headers["Content-Length"] or 0)).decode())
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def catcher() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server standing for "any URL" an attacker puts in response_url."""
    hits: list[str] = []
    handler = type("Catcher", (_Catcher,), {"hits": hits})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", hits
    server.shutdown()


@pytest.fixture
def http_bot(tmp_path: Path) -> Iterator[Bot]:
    with RunningSlack() as slack:
        bot = _bot(slack, tmp_path, SlackMode.HTTP)
        bot.start()
        yield bot
        bot.stop()


def _post(bot: Bot, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    assert bot.request_url is not None
    url = urlsplit(bot.request_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.putrequest("POST", url.path, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders(body)
    answer = conn.getresponse()
    return answer.status, answer.read().decode()


def _form(response_url: str) -> bytes:
    return urlencode({**_command("status"), "response_url": response_url}).encode()


@pytest.mark.parametrize("stamp", ["abc", "1.5", "", "9" * 40, "-1"])
def test_a_malformed_timestamp_is_refused_and_calls_nothing(
        http_bot: Bot, catcher: tuple[str, list[str]], stamp: str) -> None:
    url, hits = catcher
    body = _form(url)
    status, text = _post(http_bot, body, {
        "Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body)),
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + "0" * 64})
    assert status == 401, text
    assert json.loads(text)["ok"] is False
    time.sleep(0.5)  # an answer to response_url would have been sent by now
    assert hits == []


def test_a_wrong_signature_with_a_fresh_timestamp_is_refused(
        http_bot: Bot, catcher: tuple[str, list[str]]) -> None:
    url, hits = catcher
    body = _form(url)
    stamp = str(int(time.time()))
    forged = SignatureVerifier("not-the-secret").generate_signature(timestamp=stamp, body=body)
    assert forged is not None
    status, _ = _post(http_bot, body, {
        "Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body)),
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": forged})
    assert status == 401
    time.sleep(0.5)
    assert hits == []


def _signed_headers(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = SignatureVerifier(seed.SIGNING_SECRET).generate_signature(timestamp=stamp,
                                                                          body=body)
    assert signature is not None
    return {"Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def test_a_signed_malformed_payload_gets_400_and_a_json_log_line(
        http_bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    body = b"payload=notjson"
    with caplog.at_level(logging.WARNING, logger=slack_server.__name__):
        status, text = _post(http_bot, body, {**_signed_headers(body),
                                              "Content-Length": str(len(body))})
    assert status == 400 and "malformed body" in json.loads(text)["error"]
    assert any("malformed body" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("length", ["abc", "-5", "", "99999999999"])
def test_a_bad_content_length_gets_an_answer_not_a_closed_connection(
        http_bot: Bot, length: str) -> None:
    body = urlencode(_command("status")).encode()
    status, text = _post(http_bot, body, {**_signed_headers(body), "Content-Length": length})
    assert status in (400, 413) and json.loads(text)["ok"] is False


def test_a_connection_that_sends_only_headers_is_dropped(http_bot: Bot) -> None:
    assert http_bot.request_url is not None
    url = urlsplit(http_bot.request_url)
    with socket.create_connection((url.hostname or "", url.port or 0), timeout=30) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        started = time.monotonic()
        assert sock.recv(1024) == b""  # the server closed it: no body came in time
        waited = time.monotonic() - started
    assert slack_server.REQUEST_TIMEOUT - 1 <= waited <= slack_server.REQUEST_TIMEOUT + 5
