"""HTTP mode's server on stop (issue 12): a request in flight when `stop` is called is
answered, new connections are refused meanwhile and the health probe says so, and a request that
never finishes delays the stop only by the bound. The limits on what comes in are tested in
test_slack_http_edge.py."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator
from urllib.parse import urlencode
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
from slack_bolt import Ack

from bot.config.settings import SlackMode
from bot.slack.client import build_client
from bot.slack.http_server import EventsServer
from bot.slack.server import SlackServer, build_app
from meshsim.slack import seed
from meshsim.slack.testing import RunningSlack, wait_for
from tests.integration.test_slack_app import _command
from tests.integration.test_slack_http_edge import _address, _post, _slack_headers


@pytest.fixture
def slow_server() -> Iterator[tuple[SlackServer, threading.Event, threading.Event]]:
    """A Bolt app whose `/slow` command acks once the test releases it, served in HTTP mode."""
    entered, release = threading.Event(), threading.Event()
    with RunningSlack() as slack:
        app = build_app(build_client(seed.BOT_TOKEN, slack.api_url), SlackMode.HTTP,
                        seed.SIGNING_SECRET)

        @app.command("/slow")
        def handle_slow_command(ack: Ack) -> None:
            entered.set()
            release.wait(10)
            ack("finished after all")

        server = SlackServer(app, SlackMode.HTTP, None, 0, seed.SIGNING_SECRET)
        server.start()
        yield server, entered, release
        release.set()
        server.stop()


def test_a_request_in_flight_when_stop_is_called_completes_and_new_ones_are_refused(
        slow_server: tuple[SlackServer, threading.Event, threading.Event]) -> None:
    server, entered, release = slow_server
    url = server.request_url
    body = urlencode({**_command(""), "command": "/slow"}).encode()
    answers: list[tuple[int, str]] = []
    client = threading.Thread(target=lambda: answers.append(_post(url, body,
                                                                  _slack_headers(body))))
    client.start()
    assert entered.wait(5)
    stopping = threading.Thread(target=server.stop)
    started = time.monotonic()
    stopping.start()
    wait_for(lambda: not server.connected()[0], 5, "the server draining")
    assert server.connected()[1].startswith("stopping")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(_address(url), timeout=5)
    assert stopping.is_alive()  # stop() waits for the request in flight

    release.set()
    client.join(10)
    stopping.join(10)
    assert answers == [(200, "finished after all")]
    assert not stopping.is_alive() and time.monotonic() - started < 5


def _never_answers(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    time.sleep(8)  # longer than the bound below
    start_response("200 OK", [])
    return [b""]


def test_stop_is_bounded_when_a_request_never_finishes() -> None:
    server = EventsServer(_never_answers, "127.0.0.1", 0)
    server.start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 0\r\n\r\n")
        time.sleep(0.3)  # dispatched to a worker thread
        started = time.monotonic()
        server.stop(bound=1.0)
        stopped_in = time.monotonic() - started
        closed = sock.recv(1024)
    assert closed == b""  # closed without an answer once the bound passed
    assert 1.0 <= stopped_in < 4.0
