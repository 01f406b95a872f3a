"""The Bolt app through its two doors, against meshsim's Slack (no SDK is patched).

HTTP: signed requests dispatched to the app (a bad signature or an old timestamp gets 401),
and the simulated Slack delivering to the bot's own HTTP server. Socket Mode: the simulated
Slack's WebSocket. Whatever text or button value arrives, a handler answers and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.azure.connect import ArmEndpoint
from bot.cli.run import SlackAccess, build_bot
from bot.cli.sandbox import sandbox_config
from bot.config.settings import SlackMode
from bot.runtime.bot import Bot
from bot.runtime.services import Timing
from bot.slack.client import build_client
from bot.slack.membership import Membership
from meshsim.slack import seed
from meshsim.slack.testing import RunningSlack, wait_for
from tests.e2e.slack_harness import texts

CLUSTER = {"name": "aks-sandbox", "subscription_id": "00000000-0000-0000-0000-00000000a115",
           "resource_group": "rg-mesh"}


@pytest.fixture
def slack() -> Iterator[RunningSlack]:
    with RunningSlack() as running:
        yield running


def _bot(slack: RunningSlack, tmp_path: Path, mode: SlackMode) -> Bot:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    config = sandbox_config({"clusters": [CLUSTER]}, 120, 10, url)
    access = SlackAccess(seed.BOT_TOKEN, seed.APP_TOKEN, seed.SIGNING_SECRET, slack.api_url)
    # ARM is never reached by these commands: nothing here reads a cluster.
    return build_bot(config, access, mode, url, Timing(0.2, 0.5),
                     arm=ArmEndpoint("https://127.0.0.1:9"))


@pytest.fixture
def http_bot(slack: RunningSlack, tmp_path: Path) -> Iterator[Bot]:
    bot = _bot(slack, tmp_path, SlackMode.HTTP)
    bot.start()
    yield bot
    bot.stop()


@pytest.fixture
def socket_bot(slack: RunningSlack, tmp_path: Path) -> Iterator[Bot]:
    bot = _bot(slack, tmp_path, SlackMode.SOCKET)
    bot.start()
    wait_for(lambda: slack.sim.configure_app()["socket_connections"], 10)
    yield bot
    bot.stop()


def _signed(fields: dict[str, str], secret: str = seed.SIGNING_SECRET,
            stamp: int | None = None) -> BoltRequest:
    body = urlencode(fields)
    ts = str(stamp if stamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return BoltRequest(body=body, headers={
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-signature": [signature], "x-slack-request-timestamp": [ts]})


def _command(text: str) -> dict[str, str]:
    return {"token": "x", "team_id": seed.TEAM_ID, "channel_id": seed.OPS_CHANNEL,
            "user_id": "U0ALICE", "command": "/mesh-upgrade", "text": text,
            "response_url": "", "trigger_id": "1.2.3"}


def test_signed_help_is_answered_in_the_ack(http_bot: Bot) -> None:
    response = http_bot.slack.app.dispatch(_signed(_command("help")))
    assert response.status == 200
    assert "/mesh-upgrade start &lt;cluster&gt;" in (response.body or "")


def test_bad_signature_and_old_timestamp_are_refused(http_bot: Bot) -> None:
    assert http_bot.slack.app.dispatch(_signed(_command("help"), secret="wrong")).status == 401
    old = int(time.time()) - 600
    assert http_bot.slack.app.dispatch(_signed(_command("help"), stamp=old)).status == 401


@pytest.mark.parametrize(("text", "expected"), [
    ("strat aks-sandbox", "Did you mean `start`?"),
    ("start aks-sandbx", "Known clusters: `aks-sandbox`"),
    ("start", "needs a cluster"),
    ("<!channel> " + "💥" * 20_000, "the limit is 2,000"),
    ("<!channel> " + "💥" * 200, "Unknown command"),
    ("plan aks-sandbox --to 1.23", "Did you mean `asm-1-23`?"),
])
def test_bad_input_gets_what_was_wrong_and_the_usage(http_bot: Bot, text: str,
                                                     expected: str) -> None:
    response = http_bot.slack.app.dispatch(_signed(_command(text)))
    assert response.status == 200
    assert expected in (response.body or "") and "Usage" in (response.body or "")
    assert "<!channel>" not in (response.body or "")


def test_http_mode_through_the_simulated_slack(slack: RunningSlack, http_bot: Bot) -> None:
    slack.sim.configure_app(request_url=http_bot.request_url)
    answer = slack.sim.command("U0ALICE", seed.OPS_CHANNEL, "/mesh-upgrade", "status")
    assert answer["acked"] and answer["mode"] == "http" and answer["ack_ms"] < 3000
    found = wait_for(lambda: [e for e in slack.sim.messages(seed.OPS_CHANNEL)["ephemeral"]
                              if "no upgrade run yet" in texts(e)], 10)
    assert found[0]["user"] == "U0ALICE"


def _post_button(slack: RunningSlack, value: str, action_id: str = "approve-start") -> str:
    client = build_client(seed.BOT_TOKEN, slack.api_url)
    posted = client.chat_postMessage(channel=seed.OPS_CHANNEL, text="forged", blocks=[
        {"type": "actions", "elements": [{"type": "button", "action_id": action_id,
                                          "text": {"type": "plain_text", "text": "Go"},
                                          "value": value}]}])
    return str(posted["ts"])


def _ephemeral(slack: RunningSlack, user: str, part: str) -> Any:
    return wait_for(lambda: next((e for e in slack.sim.messages(seed.OPS_CHANNEL)["ephemeral"]
                                  if e["user"] == user and part in texts(e)), None), 10)


def test_socket_mode_command_is_acked_over_the_websocket(slack: RunningSlack,
                                                         socket_bot: Bot) -> None:
    answer = slack.sim.command("U0BOB", seed.OPS_CHANNEL, "/mesh-upgrade", "clusters")
    assert answer["acked"] and answer["mode"] == "socket_mode"
    assert "aks-sandbox" in answer["response"]["text"]


def test_forged_and_unknown_buttons_change_nothing(slack: RunningSlack, socket_bot: Bot) -> None:
    junk = _post_button(slack, "run=1;a=start;v=1;x=2")
    assert slack.sim.click("U0BOB", seed.OPS_CHANNEL, junk, "approve-start")["acked"]
    _ephemeral(slack, "U0BOB", "not made by this bot")
    mismatched = _post_button(slack, "run=1;a=complete;v=1")
    slack.sim.click("U0CAROL", seed.OPS_CHANNEL, mismatched, "approve-start")
    _ephemeral(slack, "U0CAROL", "not made by this bot")
    missing = _post_button(slack, "run=999;a=start;v=1")
    slack.sim.click("U0BOB", seed.OPS_CHANNEL, missing, "approve-start")
    _ephemeral(slack, "U0BOB", "There is no run 999")
    assert socket_bot.services.store.recent_runs("aks-sandbox") == ()


def test_membership_is_read_at_click_time_and_fails_closed(slack: RunningSlack) -> None:
    membership = Membership(build_client(seed.BOT_TOKEN, slack.api_url), ttl=0)
    assert membership.groups_of("U0BOB", ["S0MESHAPPR"]) == frozenset({"S0MESHAPPR"})
    assert membership.groups_of("U0MALLORY", ["S0MESHAPPR"]) == frozenset()
    assert membership.groups_of("U0BOB", ["S0MESHAPPR", "S0NOSUCH"]) is None
    slack.sim.set_group_users("S0MESHAPPR", ["U0CAROL"])
    assert membership.groups_of("U0BOB", ["S0MESHAPPR"]) == frozenset()
