"""Socket Mode: the builtin slack_sdk SocketModeClient against the simulated workspace."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from meshsim.slack import APP_TOKEN, BOT_TOKEN, OPS_CHANNEL
from meshsim.slack.testing import RunningSlack, wait_for

Listener = Callable[[SocketModeClient, SocketModeRequest], None]


class App:
    """A Socket Mode app that records every request and acks per `decide(request)`."""

    def __init__(self, slack: RunningSlack) -> None:
        self.requests: list[SocketModeRequest] = []
        self.decide: Callable[[SocketModeRequest], dict[str, object] | None] = lambda r: {}
        web = WebClient(token=APP_TOKEN, base_url=slack.api_url)
        self.client = SocketModeClient(app_token=APP_TOKEN, web_client=web,
                                       auto_reconnect_enabled=False)
        self.client.socket_mode_request_listeners.append(self._on_request)

    def _on_request(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        self.requests.append(request)
        payload = self.decide(request)
        if payload is not None:
            ack = SocketModeResponse(envelope_id=request.envelope_id, payload=payload or None)
            client.send_socket_mode_response(ack)


@pytest.fixture
def app(slack: RunningSlack) -> Iterator[App]:
    running = App(slack)
    running.client.connect()
    wait_for(lambda: slack.control("GET", "/_sim/app")[1]["socket_connections"] == 1)
    yield running
    # The builtin client's close() waits out a blocked recv (3 s) unless the server hangs up,
    # then its queue poll (1 s): hang up, and let it finish on its own thread.
    slack.control("POST", "/_sim/socket/drop")
    threading.Thread(target=running.client.close, daemon=True).start()


def post_buttons(slack: RunningSlack, value: str, ts: str | None = None) -> str:
    web = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    blocks = [{"type": "actions", "block_id": f"approve-{value}", "elements": [
        {"type": "button", "action_id": "approve", "value": value,
         "text": {"type": "plain_text", "text": "Approve"}, "style": "primary"}]}]
    if ts is None:
        return str(web.chat_postMessage(channel=OPS_CHANNEL, text=value, blocks=blocks)["ts"])
    return str(web.chat_update(channel=OPS_CHANNEL, ts=ts, text=value, blocks=blocks)["ts"])


def test_command_is_delivered_and_the_ack_time_and_reply_reported(slack: RunningSlack,
                                                                   app: App) -> None:
    app.decide = lambda request: {"text": "Planning the upgrade..."}
    status, result = slack.control("POST", "/_sim/command", {
        "user": "U0ALICE", "channel": OPS_CHANNEL, "command": "/mesh-upgrade",
        "text": "plan aks-prod"})
    assert status == 200
    assert (result["ok"], result["mode"], result["response"]) == (
        True, "socket_mode", {"text": "Planning the upgrade..."})
    assert 0 <= result["ack_ms"] < 3000
    (request,) = app.requests
    assert request.type == "slash_commands" and request.accepts_response_payload
    assert request.payload["command"] == "/mesh-upgrade"
    assert (request.payload["user_id"], request.payload["text"]) == ("U0ALICE", "plan aks-prod")
    assert request.payload["response_url"] == result["response_url"]
    (shown,) = slack.sim.messages(OPS_CHANNEL)["ephemeral"]
    assert (shown["user"], shown["text"], shown["source"]) == (
        "U0ALICE", "Planning the upgrade...", "ack")


def test_unacked_command_is_redelivered_with_retry_attempt(slack: RunningSlack,
                                                           app: App) -> None:
    slack.sim.configure_app(ack_timeout=1.0)  # the retry's ack must land in time, even loaded
    app.decide = lambda request: {} if request.retry_attempt else None
    result = slack.sim.command("U0ALICE", OPS_CHANNEL, "/mesh-upgrade", "status")
    assert result["ok"] and len(result["attempts"]) == 2
    assert result["attempts"][0]["error"] == "operation_timeout"
    assert [(r.retry_attempt, r.retry_reason) for r in app.requests] == [(0, ""), (1, "timeout")]
    assert app.requests[0].envelope_id != app.requests[1].envelope_id


def test_lost_acks_cause_redelivery_until_retries_run_out(slack: RunningSlack,
                                                          app: App) -> None:
    slack.sim.configure_app(ack_timeout=0.2, retries=2, lose_acks=5)
    result = slack.sim.command("U0BOB", OPS_CHANNEL, "/mesh-upgrade", "status")
    assert (result["ok"], result["error"]) == (False, "operation_timeout")
    assert [r.retry_attempt for r in app.requests] == [0, 1, 2]
    assert slack.control("GET", "/_sim/app")[1]["acks_lost"] == 3


def test_click_delivers_the_message_as_it_is_now_or_as_a_stale_version(
        slack: RunningSlack, app: App) -> None:
    ts = post_buttons(slack, "run-1:v0")
    post_buttons(slack, "run-1:v1", ts)
    current = slack.sim.click("U0BOB", OPS_CHANNEL, ts, "approve")
    status, stale = slack.control("POST", "/_sim/click", {
        "user": "U0BOB", "channel": OPS_CHANNEL, "ts": ts, "action_id": "approve", "edit": 0})
    assert status == 200 and current["ok"] and stale["ok"]
    fresh_payload, stale_payload = (r.payload for r in app.requests)
    assert fresh_payload["actions"][0]["value"] == "run-1:v1"
    assert stale_payload["actions"][0]["value"] == "run-1:v0"
    assert stale_payload["message"]["text"] == "run-1:v0"
    assert stale_payload["actions"][0]["block_id"] == "approve-run-1:v0"
    assert stale_payload["user"]["id"] == "U0BOB"
    assert stale_payload["container"] == {"type": "message", "message_ts": ts,
                                          "channel_id": OPS_CHANNEL, "is_ephemeral": False}


def test_click_on_a_missing_button_is_404(slack: RunningSlack) -> None:
    ts = post_buttons(slack, "run-1:v0")
    status, body = slack.control("POST", "/_sim/click", {
        "user": "U0BOB", "channel": OPS_CHANNEL, "ts": ts, "action_id": "rollback"})
    assert status == 404 and "rollback" in body["error"]
    status, body = slack.control("POST", "/_sim/click", {
        "user": "U0BOB", "channel": OPS_CHANNEL, "ts": ts, "action_id": "approve", "edit": 3})
    assert status == 404 and "versions 0..0" in body["error"]


def test_command_without_any_app_is_dispatch_failed(slack: RunningSlack) -> None:
    status, result = slack.control("POST", "/_sim/command", {
        "user": "U0ALICE", "channel": OPS_CHANNEL, "command": "/mesh-upgrade"})
    assert status == 200 and (result["ok"], result["error"]) == (False, "dispatch_failed")


def test_apps_connections_open_needs_the_app_token(slack: RunningSlack) -> None:
    web = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as err:
        web.apps_connections_open(app_token=BOT_TOKEN)
    assert err.value.response["error"] == "not_allowed_token_type"
    url = web.apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith(slack.url.replace("http", "ws") + "/link/?ticket=")


def test_click_on_an_ephemeral_button_only_works_for_its_viewer(slack: RunningSlack,
                                                                app: App) -> None:
    web = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    ts = web.chat_postEphemeral(channel=OPS_CHANNEL, user="U0BOB", text="confirm?", blocks=[
        {"type": "actions", "elements": [{"type": "button", "action_id": "yes",
                                          "text": {"type": "plain_text", "text": "Yes"}}]}],
    )["message_ts"]
    assert slack.sim.click("U0BOB", OPS_CHANNEL, ts, "yes")["ok"]
    (request,) = app.requests
    assert request.payload["container"]["is_ephemeral"] is True
    assert "message" not in request.payload
    status, _ = slack.control("POST", "/_sim/click", {
        "user": "U0CAROL", "channel": OPS_CHANNEL, "ts": ts, "action_id": "yes"})
    assert status == 404
