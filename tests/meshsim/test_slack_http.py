"""HTTP mode: signed deliveries to a Bolt app served on a free port, and `response_url`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from meshsim.clock import SimClock
from meshsim.slack import BOT_TOKEN, OPS_CHANNEL, SIGNING_SECRET
from meshsim.slack.testing import RunningSlack, wait_for


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(app: App) -> tuple[str, Any]:
    """Serve Bolt's WSGI adapter on a free port; (request URL, server)."""
    server = make_server("127.0.0.1", 0, SlackRequestHandler(app), handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/slack/events", server


def bolt_app(slack: RunningSlack, secret: str = SIGNING_SECRET) -> App:
    app = App(client=WebClient(token=BOT_TOKEN, base_url=slack.api_url), signing_secret=secret)

    @app.command("/mesh-upgrade")
    def plan(ack: Any, say: Any, command: dict[str, str]) -> None:
        ack(f"Planning {command['text']}")
        say(blocks=[{"type": "actions", "elements": [
            {"type": "button", "action_id": "approve", "value": "run-1",
             "text": {"type": "plain_text", "text": "Approve"}}]}], text="plan")

    @app.action("approve")
    def approve(ack: Any, respond: Any, body: dict[str, Any]) -> None:
        ack()
        respond(text=f"approved by <@{body['user']['id']}>", replace_original=True)

    return app


@pytest.fixture
def http_app(slack: RunningSlack) -> Iterator[App]:
    app = bolt_app(slack)
    url, server = serve(app)
    slack.control("POST", "/_sim/app", {"request_url": url})
    yield app
    server.shutdown()
    server.server_close()


def command(slack: RunningSlack, text: str = "aks-prod") -> dict[str, Any]:
    status, result = slack.control("POST", "/_sim/command", {
        "user": "U0ALICE", "channel": OPS_CHANNEL, "command": "/mesh-upgrade", "text": text})
    assert status == 200
    return dict(result)


def test_bolt_in_http_mode_verifies_the_signed_command_and_acks(
        slack: RunningSlack, http_app: App) -> None:
    result = command(slack)
    assert (result["ok"], result["mode"], result["status"]) == (True, "http", 200)
    assert result["response"] == "Planning aks-prod"  # Bolt answers ack(text) as text/plain
    assert result["ack_ms"] < 3000
    posted = wait_for(lambda: slack.sim.messages(OPS_CHANNEL)["messages"])
    assert posted[0]["text"] == "plan"
    assert slack.sim.messages(OPS_CHANNEL)["ephemeral"][0]["text"] == "Planning aks-prod"


def test_a_wrong_signing_secret_is_refused_with_401(slack: RunningSlack) -> None:
    url, server = serve(bolt_app(slack, secret="not-the-secret"))
    try:
        slack.sim.configure_app(request_url=url)
        result = command(slack)
    finally:
        server.shutdown()
        server.server_close()
    assert (result["ok"], result["status"], result["error"]) == (False, 401, "dispatch_failed")
    assert result["response"] == {"error": "invalid request"}
    assert len(result["attempts"]) == 1
    assert slack.sim.messages(OPS_CHANNEL)["messages"] == []


def test_click_over_http_and_respond_replaces_the_original(
        slack: RunningSlack, http_app: App) -> None:
    command(slack)
    (card,) = wait_for(lambda: slack.sim.messages(OPS_CHANNEL)["messages"])
    result = slack.sim.click("U0BOB", OPS_CHANNEL, card["ts"], "approve")
    assert result["ok"] and result["payload"]["actions"][0]["value"] == "run-1"
    (card,) = wait_for(lambda: [m for m in slack.sim.messages(OPS_CHANNEL)["messages"]
                                if len(m["history"]) == 2])
    assert card["text"] == "approved by <@U0BOB>"
    assert card["history"][0]["text"] == "plan"


def test_response_url_takes_five_uses_then_used_url(slack: RunningSlack, http_app: App) -> None:
    hook = WebhookClient(command(slack)["response_url"])
    statuses = [hook.send(text=f"update {n}").status_code for n in range(5)]
    sixth = hook.send(text="one too many")
    assert statuses == [200] * 5
    assert (sixth.status_code, sixth.body) == (404, '{"ok": false, "error": "used_url"}')
    ephemeral = slack.sim.messages(OPS_CHANNEL)["ephemeral"]
    assert [e["text"] for e in ephemeral if e["source"] == "response_url"] == [
        f"update {n}" for n in range(5)]


def test_response_url_in_channel_and_delete_original(slack: RunningSlack, http_app: App) -> None:
    command(slack)
    (card,) = wait_for(lambda: slack.sim.messages(OPS_CHANNEL)["messages"])
    url = slack.control("POST", "/_sim/click", {"user": "U0CAROL", "channel": OPS_CHANNEL,
                                                "ts": card["ts"], "action_id": "approve"})[1]
    hook = WebhookClient(url["response_url"])
    wait_for(lambda: len(slack.sim.messages(OPS_CHANNEL)["messages"][0]["history"]) == 2)
    assert hook.send(text="for everyone", response_type="in_channel").status_code == 200
    assert hook.send(text="", delete_original=True).status_code == 200
    assert [m["text"] for m in slack.sim.messages(OPS_CHANNEL)["messages"]] == ["for everyone"]


def test_response_url_expires_after_30_slack_minutes() -> None:
    with RunningSlack(clock=SimClock(speed=100_000)) as slack:
        url = command(slack)["response_url"]  # no app: the URL exists, nothing acked it
        time.sleep(0.05)  # 0.05 real seconds are 83 Slack minutes
        response = WebhookClient(url).send(text="late")
    assert (response.status_code, response.body) == (404, '{"ok": false, "error": "expired_url"}')
