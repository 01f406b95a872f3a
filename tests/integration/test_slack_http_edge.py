"""The bot's HTTP endpoint under what Slack never sends (issue 10, recipes 3 and 8; issue 12):
unsigned or malformed requests are refused before anything is parsed, dispatched or called back;
a broken body gets 400 and one JSON log line; an oversized body gets 413; a connection that
sends nothing, or trickles its body, is cut off; and a command Slack signed is answered all the
while."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from bot.config.settings import SlackMode
from bot.runtime.bot import Bot
from bot.slack import http_server
from bot.slack.http_server import MAX_BODY, REQUEST_TIMEOUT
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


def _address(request_url: str | None) -> tuple[str, int]:
    assert request_url is not None
    url = urlsplit(request_url)
    return url.hostname or "", url.port or 0


def _post(request_url: str | None, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POSTs `body` with exactly `headers` (Content-Length: the body's unless given)."""
    conn = http.client.HTTPConnection(*_address(request_url), timeout=10)
    conn.putrequest("POST", http_server.EVENTS_PATH, skip_accept_encoding=True)
    for name, value in {"Content-Length": str(len(body)), **headers}.items():
        conn.putheader(name, value)
    conn.endheaders(body)
    answer = conn.getresponse()
    status, text = answer.status, answer.read().decode()
    conn.close()
    return status, text


def _slack_headers(body: bytes, secret: str = seed.SIGNING_SECRET) -> dict[str, str]:
    """Signed as Slack signs: v0=HMAC-SHA256(signing secret, "v0:{timestamp}:{body}")."""
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {"Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest.hexdigest()}"}


def _form(response_url: str) -> bytes:
    return urlencode({**_command("status"), "response_url": response_url}).encode()


@pytest.mark.parametrize("stamp", ["abc", "1.5", "", "9" * 40, "-1"])
def test_a_malformed_timestamp_is_refused_and_calls_nothing(
        http_bot: Bot, catcher: tuple[str, list[str]], stamp: str) -> None:
    url, hits = catcher
    body = _form(url)
    status, text = _post(http_bot.request_url, body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + "0" * 64})
    assert status == 401, text
    assert json.loads(text)["ok"] is False
    time.sleep(0.5)  # an answer to response_url would have been sent by now
    assert hits == []


def test_a_wrong_signature_with_a_fresh_timestamp_is_refused(
        http_bot: Bot, catcher: tuple[str, list[str]]) -> None:
    url, hits = catcher
    body = _form(url)
    status, _ = _post(http_bot.request_url, body, _slack_headers(body, "not-the-secret"))
    assert status == 401
    time.sleep(0.5)
    assert hits == []


def test_a_signed_malformed_payload_gets_400_and_a_json_log_line(
        http_bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    body = b"payload=notjson"
    with caplog.at_level(logging.WARNING, logger=http_server.__name__):
        status, text = _post(http_bot.request_url, body, _slack_headers(body))
    assert status == 400 and "malformed body" in json.loads(text)["error"]
    assert any("malformed body" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("length", ["abc", "-5", "", "99999999999"])
def test_a_bad_content_length_gets_an_answer_not_a_closed_connection(
        http_bot: Bot, length: str) -> None:
    body = urlencode(_command("status")).encode()
    status, text = _post(http_bot.request_url, body, {**_slack_headers(body),
                                                      "Content-Length": length})
    assert status in (400, 413) and json.loads(text)["ok"] is False


def test_a_connection_that_sends_only_headers_is_dropped(http_bot: Bot) -> None:
    assert http_bot.request_url is not None
    url = urlsplit(http_bot.request_url)
    with socket.create_connection((url.hostname or "", url.port or 0), timeout=30) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        started = time.monotonic()
        assert sock.recv(1024) == b""  # the server closed it: no body came in time
        waited = time.monotonic() - started
    assert REQUEST_TIMEOUT - 1 <= waited <= REQUEST_TIMEOUT + 5


def _trickle(request_url: str | None, seconds: float, lived: list[float]) -> None:
    """Sends the headers of a 1,000-byte body, then one byte every 0.3 s (never idle long enough
    for an idle timeout) until the server closes the connection or `seconds` pass; appends how
    long the connection lived."""
    with socket.create_connection(_address(request_url), timeout=5) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 1000\r\n\r\n")
        started = time.monotonic()
        readable = select.poll()  # not select(): a worker of the suite may hold fds past 1024
        readable.register(sock, select.POLLIN)
        while time.monotonic() - started < seconds:
            try:
                sock.sendall(b"a")
                if readable.poll(300) and sock.recv(1024) == b"":
                    break  # closed by the server
            except OSError:  # reset by the server
                break
        lived.append(time.monotonic() - started)


def _headers_only(request_url: str | None, length: int) -> str:
    """The answer to a request that announces `length` bytes and sends none of them, read until
    the server closes the connection."""
    with socket.create_connection(_address(request_url), timeout=10) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n"
                     b"Content-Length: " + str(length).encode() + b"\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer.decode()


def test_oversized_slow_and_unsigned_requests_are_refused_while_a_signed_command_is_answered(
        http_bot: Bot) -> None:
    url = http_bot.request_url
    lived: list[float] = []
    slow = threading.Thread(target=_trickle, args=(url, REQUEST_TIMEOUT + 20, lived))
    slow.start()
    time.sleep(1)

    refused = _headers_only(url, MAX_BODY + 1)  # answered before any of the body is sent
    assert refused.startswith("HTTP/1.1 413 ")
    assert json.loads(refused.split("\r\n\r\n", 1)[1])["ok"] is False
    at_limit = b"a" * MAX_BODY  # the largest body allowed: refused only for its signature
    assert _post(url, at_limit, _slack_headers(at_limit, "not-the-secret"))[0] == 401

    body = urlencode(_command("help")).encode()
    status, text = _post(url, body, _slack_headers(body, "not-the-secret"))
    assert status == 401 and json.loads(text)["ok"] is False
    status, text = _post(url, body, _slack_headers(body))
    assert status == 200 and "/mesh-upgrade start &lt;cluster&gt;" in text
    assert slow.is_alive() and not lived  # the slow request was hanging all along

    slow.join()
    assert REQUEST_TIMEOUT - 1 <= lived[0] <= REQUEST_TIMEOUT + 5  # cut off, not left to trickle
