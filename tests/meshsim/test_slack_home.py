"""The App Home: views.publish with Slack's arguments, answers and refusals, and
`app_home_opened` delivered to a Bolt app over HTTP and over Socket Mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from meshsim.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET
from meshsim.slack.testing import RunningSlack, wait_for
from tests.meshsim.test_slack_http import serve

BOB = "U0BOB"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def web(slack: RunningSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack.api_url)


def refusal(slack: RunningSlack, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as err:
        web(slack).views_publish(**kwargs)
    return dict(err.value.response.data)  # type: ignore[arg-type]


def test_views_publish_answers_the_view_and_the_page_shows_it(slack: RunningSlack) -> None:
    answer = web(slack).views_publish(user_id=BOB, view={"type": "home",
                                                         "blocks": [section("*hello*")]})
    view = answer["view"]
    assert view["type"] == "home" and view["id"].startswith("V") and view["hash"]
    assert view["blocks"][0]["block_id"] and view["app_id"] and view["bot_id"]
    again = web(slack).views_publish(user_id=BOB, hash=view["hash"],
                                     view=json.dumps({"type": "home", "blocks": []}))
    assert again["view"]["id"] == view["id"] and again["view"]["hash"] != view["hash"]
    status, shown = slack.control("GET", f"/_sim/home?user={BOB}")
    assert status == 200 and shown["view"]["blocks"] == []
    assert slack.control("GET", "/_sim/home?user=U0ALICE")[1]["view"] is None


def test_home_view_over_100_blocks_is_invalid_arguments_with_messages(
        slack: RunningSlack) -> None:
    body = refusal(slack, user_id=BOB,
                   view={"type": "home", "blocks": [section("x")] * 101})
    assert body["error"] == "invalid_arguments"
    assert body["response_metadata"]["messages"] == [
        "[ERROR] must be less than 101 items [json-pointer:/view/blocks]"]
    # 100 blocks are fine for a home tab (a message allows 50).
    web(slack).views_publish(user_id=BOB, view={"type": "home", "blocks": [section("x")] * 100})


@pytest.mark.parametrize(("view", "message"), [
    ({"type": "home", "blocks": [{"type": "file", "external_id": "x", "source": "remote"}]},
     "unsupported type: file [json-pointer:/view/blocks/0/type]"),
    ({"type": "modal", "blocks": []}, "must be a valid enum value: home [json-pointer:/view/type]"),
    ({"type": "home", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]},
     "must be a valid enum value [json-pointer:/view/blocks/0/text/type]"),
    ({"type": "home"}, "missing required field: blocks [json-pointer:/view]"),
])
def test_bad_home_views_are_refused_with_a_pointer(slack: RunningSlack, view: dict[str, Any],
                                                   message: str) -> None:
    body = refusal(slack, user_id=BOB, view=view)
    assert body["error"] == "invalid_arguments"
    assert f"[ERROR] {message}" in body["response_metadata"]["messages"]
    assert slack.sim.home(BOB) is None


def test_stale_hash_is_hash_conflict_and_big_view_is_view_too_large(slack: RunningSlack) -> None:
    web(slack).views_publish(user_id=BOB, view={"type": "home", "blocks": []})
    assert refusal(slack, user_id=BOB, hash="1.old",
                   view={"type": "home", "blocks": []})["error"] == "hash_conflict"
    big = {"type": "home", "blocks": [], "private_metadata": "x" * 260_000}
    assert refusal(slack, user_id=BOB, view=big)["error"] == "view_too_large"
    assert refusal(slack, user_id="U0NOBODY",
                   view={"type": "home", "blocks": []})["error"] == "invalid_arguments"


def home_app(slack: RunningSlack, seen: list[dict[str, Any]]) -> App:
    app = App(client=web(slack), signing_secret=SIGNING_SECRET)

    @app.event("app_home_opened")
    def opened(event: dict[str, Any], client: WebClient) -> None:
        seen.append(event)
        client.views_publish(user_id=event["user"], view={
            "type": "home", "blocks": [section(f"Home of <@{event['user']}>, {len(seen)}")]})

    return app


def _opens_twice(slack: RunningSlack, seen: list[dict[str, Any]], mode: str) -> None:
    status, answer = slack.control("POST", "/_sim/home", {"user": BOB})
    assert status == 200 and answer["acked"] and answer["mode"] == mode
    view = wait_for(lambda: slack.sim.home(BOB), 10, "the published home view")
    assert view["blocks"][0]["text"]["text"] == "Home of <@U0BOB>, 1"
    first = seen[0]
    assert first["type"] == "app_home_opened" and first["user"] == BOB
    assert first["tab"] == "home" and first["channel"].startswith("D") and "view" not in first
    answer = slack.sim.open_home(BOB)
    assert answer["view"]["id"] == view["id"]
    wait_for(lambda: len(seen) == 2, 10, "the second app_home_opened")
    assert seen[1]["view"]["id"] == view["id"] and seen[1]["view"]["type"] == "home"


def test_app_home_opened_over_http_carries_the_view_once_published(
        slack: RunningSlack) -> None:
    seen: list[dict[str, Any]] = []
    url, server = serve(home_app(slack, seen))
    slack.sim.configure_app(request_url=url)
    try:
        _opens_twice(slack, seen, "http")
    finally:
        server.shutdown()


@pytest.fixture
def socket_handler(slack: RunningSlack) -> Iterator[tuple[list[dict[str, Any]], Any]]:
    seen: list[dict[str, Any]] = []
    handler = SocketModeHandler(home_app(slack, seen), APP_TOKEN)
    handler.connect()  # type: ignore[no-untyped-call]
    wait_for(lambda: slack.sim.configure_app()["socket_connections"], 10)
    yield seen, handler
    handler.close()  # type: ignore[no-untyped-call]


def test_app_home_opened_over_socket_mode(slack: RunningSlack,
                                          socket_handler: tuple[list[dict[str, Any]], Any]
                                          ) -> None:
    _opens_twice(slack, socket_handler[0], "socket_mode")


def test_opening_home_as_an_unknown_user_is_404(slack: RunningSlack) -> None:
    assert slack.control("POST", "/_sim/home", {"user": "U0NOBODY"})[0] == 404
