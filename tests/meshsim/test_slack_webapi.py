"""The simulated Slack Web API, driven by the real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import re

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from meshsim.slack import APPROVERS_GROUP, BOT_TOKEN, OPS_CHANNEL, RANDOM_CHANNEL
from meshsim.slack.testing import RunningSlack


def client(slack: RunningSlack, token: str = BOT_TOKEN) -> WebClient:
    return WebClient(token=token, base_url=slack.api_url)


def section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_post_message_gets_unique_increasing_ts_and_shows_in_channel(slack: RunningSlack) -> None:
    web = client(slack)
    first = web.chat_postMessage(channel=OPS_CHANNEL, text="one", blocks=[section("*one*")])
    second = web.chat_postMessage(channel="#mesh-ops", text="two")
    assert re.fullmatch(r"\d{10}\.\d{6}", first["ts"])
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["bot_id"] == "B0MESHBOT"
    shown = slack.sim.messages(OPS_CHANNEL)["messages"]
    assert [m["text"] for m in shown] == ["one", "two"]
    assert shown[0]["blocks"][0]["text"]["text"] == "*one*"


def test_update_keeps_every_version_in_history(slack: RunningSlack) -> None:
    web = client(slack)
    ts = web.chat_postMessage(channel=OPS_CHANNEL, text="planned")["ts"]
    answer = web.chat_update(channel=OPS_CHANNEL, ts=ts, text="starting")
    web.chat_update(channel=OPS_CHANNEL, ts=ts, text="canary ready")
    assert answer["message"]["edited"]["user"] == "U0MESHBOT"
    status, listing = slack.control("GET", f"/_sim/messages?channel={OPS_CHANNEL}")
    assert status == 200
    (message,) = listing["messages"]
    assert message["text"] == "canary ready"
    assert [v["text"] for v in message["history"]] == ["planned", "starting", "canary ready"]


def test_update_of_unknown_message_is_message_not_found(slack: RunningSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack).chat_update(channel=OPS_CHANNEL, ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_ephemeral_is_recorded_with_the_user_who_saw_it(slack: RunningSlack) -> None:
    answer = client(slack).chat_postEphemeral(channel=OPS_CHANNEL, user="U0MALLORY",
                                              text="you are not an approver")
    (ephemeral,) = slack.sim.messages(OPS_CHANNEL)["ephemeral"]
    assert ephemeral["ts"] == answer["message_ts"]
    assert (ephemeral["user"], ephemeral["text"]) == ("U0MALLORY", "you are not an approver")
    assert slack.sim.messages(OPS_CHANNEL)["messages"] == []


def test_thread_reply_nests_under_its_root(slack: RunningSlack) -> None:
    web = client(slack)
    root = web.chat_postMessage(channel=OPS_CHANNEL, text="run 1")["ts"]
    web.chat_postMessage(channel=OPS_CHANNEL, text="health ok", thread_ts=root)
    (message,) = slack.sim.messages(OPS_CHANNEL)["messages"]
    assert message["reply_count"] == 1
    assert message["replies"][0]["text"] == "health ok"
    assert message["replies"][0]["thread_ts"] == root


def test_usergroups_list_and_users_list_follow_membership_changes(slack: RunningSlack) -> None:
    web = client(slack)
    groups = web.usergroups_list(include_users=True)["usergroups"]
    assert [(g["id"], g["handle"], g["users"]) for g in groups] == [
        (APPROVERS_GROUP, "mesh-approvers", ["U0BOB", "U0CAROL"])]
    status, _ = slack.control("POST", f"/_sim/usergroups/{APPROVERS_GROUP}/users",
                              {"users": ["U0CAROL"]})
    assert status == 200
    assert web.usergroups_users_list(usergroup=APPROVERS_GROUP)["users"] == ["U0CAROL"]
    with pytest.raises(SlackApiError) as err:
        web.usergroups_users_list(usergroup="S0NOPE")
    assert err.value.response["error"] == "no_such_subteam"


def test_files_upload_v2_shares_the_file_into_the_thread(slack: RunningSlack) -> None:
    web = client(slack)
    root = web.chat_postMessage(channel=OPS_CHANNEL, text="run 1")["ts"]
    answer = web.files_upload_v2(channel=OPS_CHANNEL, thread_ts=root, filename="census.csv",
                                 content="pod,revision\na,asm-1-24\n", title="Sidecar census",
                                 initial_comment="full census")
    assert answer["file"]["title"] == "Sidecar census"
    assert answer["file"]["shares"]["public"][OPS_CHANNEL][0]["thread_ts"] == root
    (message,) = slack.sim.messages(OPS_CHANNEL)["messages"]
    (reply,) = message["replies"]
    assert reply["text"] == "full census"
    assert reply["files"][0]["name"] == "census.csv"
    assert reply["files"][0]["size"] == len("pod,revision\na,asm-1-24\n")


def test_an_images_alt_txt_is_kept_on_the_file_and_over_1000_characters_refused(
        slack: RunningSlack) -> None:
    web = client(slack)
    root = web.chat_postMessage(channel=OPS_CHANNEL, text="run 1")["ts"]
    said = "Sidecars by revision over the run: asm-1-22 fell from 12 to 0 pods."
    answer = web.files_upload_v2(channel=OPS_CHANNEL, thread_ts=root, filename="census.png",
                                 content=b"\x89PNG\r\n\x1a\n", title="census", alt_txt=said)
    assert answer["file"]["alt_txt"] == said
    (message,) = slack.sim.messages(OPS_CHANNEL)["messages"]
    assert message["replies"][0]["files"][0]["alt_txt"] == said
    with pytest.raises(SlackApiError) as err:
        web.files_upload_v2(channel=OPS_CHANNEL, filename="big.png", content=b"x",
                            alt_txt="x" * 1001)
    assert err.value.response["error"] == "alt_txt_too_large"


def test_51_blocks_are_refused_with_invalid_blocks(slack: RunningSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack).chat_postMessage(channel=OPS_CHANNEL, text="x",
                                       blocks=[{"type": "divider"}] * 51)
    assert err.value.response["error"] == "invalid_blocks"
    assert err.value.response["errors"] == ["must be less than 51 items [json-pointer:/blocks]"]
    assert slack.sim.messages(OPS_CHANNEL)["messages"] == []


def test_overlong_section_text_is_refused_with_its_json_pointer(slack: RunningSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack).chat_postMessage(channel=OPS_CHANNEL, text="x",
                                       blocks=[{"type": "divider"}, section("a" * 3001)])
    assert err.value.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/1/text/text]"]


def test_posting_where_the_bot_is_no_member_is_not_in_channel(slack: RunningSlack) -> None:
    web = client(slack)
    with pytest.raises(SlackApiError) as err:
        web.chat_postMessage(channel=RANDOM_CHANNEL, text="hello")
    assert err.value.response["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as err:
        web.chat_postMessage(channel="C0NOWHERE", text="hello")
    assert err.value.response["error"] == "channel_not_found"
    assert web.conversations_info(channel=RANDOM_CHANNEL)["channel"]["is_member"] is False


def test_a_bad_token_is_invalid_auth(slack: RunningSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack, token="xoxb-wrong").auth_test()
    assert err.value.response["error"] == "invalid_auth"
    assert client(slack).auth_test()["user_id"] == "U0MESHBOT"


def test_a_429_fault_is_retried_by_the_rate_limit_handler(slack: RunningSlack) -> None:
    rule = slack.sim.faults.add(verb="POST", path="/api/chat.postMessage", status=429,
                                retry_after=0, count=1)
    web = client(slack)
    web.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    answer = web.chat_postMessage(channel=OPS_CHANNEL, text="after the 429")
    assert answer["ok"] and slack.sim.faults.rules()[0]["hits"] == rule.hits == 1
    assert [m["text"] for m in slack.sim.messages(OPS_CHANNEL)["messages"]] == ["after the 429"]


def test_a_429_without_retry_handler_surfaces_ratelimited(slack: RunningSlack) -> None:
    status, _ = slack.control("POST", "/_sim/faults", {"path": "/api/auth.test", "status": 429,
                                                       "retry_after": 7})
    assert status == 201
    with pytest.raises(SlackApiError) as err:
        client(slack).auth_test()
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["Retry-After"] == "7"


def test_every_call_is_recorded_with_method_and_params(slack: RunningSlack) -> None:
    web = client(slack)
    web.chat_postMessage(channel=OPS_CHANNEL, text="hi")
    web.users_info(user="U0BOB")
    status, calls = slack.control("GET", "/_sim/calls?method=chat.postMessage")
    assert status == 200
    assert [(c["method"], c["params"]["text"], c["ok"]) for c in calls] == [
        ("chat.postMessage", "hi", True)]
    assert [c["method"] for c in slack.sim.calls()] == ["chat.postMessage", "users.info"]


def test_delete_and_reactions_act_on_the_bots_message(slack: RunningSlack) -> None:
    web = client(slack)
    keep = web.chat_postMessage(channel=OPS_CHANNEL, text="keep")["ts"]
    gone = web.chat_postMessage(channel=OPS_CHANNEL, text="gone")["ts"]
    web.reactions_add(channel=OPS_CHANNEL, timestamp=keep, name="white_check_mark")
    web.chat_delete(channel=OPS_CHANNEL, ts=gone)
    (message,) = slack.sim.messages(OPS_CHANNEL)["messages"]
    assert (message["ts"], message["text"]) == (keep, "keep")
    assert message["reactions"] == [{"name": "white_check_mark", "users": ["U0MESHBOT"],
                                     "count": 1}]


def test_workspace_lists_seeded_people_groups_channels_and_tokens(slack: RunningSlack) -> None:
    status, workspace = slack.control("GET", "/_sim/workspace")
    assert status == 200
    assert {u["name"] for u in workspace["users"]} >= {"alice", "bob", "carol", "mallory"}
    channels = {c["id"]: c for c in workspace["channels"]}
    assert channels[OPS_CHANNEL]["is_member"] and not channels[RANDOM_CHANNEL]["is_member"]
    assert workspace["tokens"]["bot"] == BOT_TOKEN
    assert workspace["tokens"]["app"].startswith("xapp-")


def test_history_returns_message_metadata_only_when_asked_newest_first_in_pages(
        slack: RunningSlack) -> None:
    web = client(slack)
    card = {"event_type": "mesh_upgrade_card", "event_payload": {"run_id": 7, "nonce": "n1"}}
    posted = web.chat_postMessage(channel=OPS_CHANNEL, text="card", metadata=card)
    assert posted["message"]["metadata"] == card
    web.chat_postMessage(channel=OPS_CHANNEL, text="reply", thread_ts=posted["ts"])
    for i in range(3):
        web.chat_postMessage(channel=OPS_CHANNEL, text=f"later {i}")
    plain = web.conversations_history(channel=OPS_CHANNEL)
    assert [m["text"] for m in plain["messages"]] == ["later 2", "later 1", "later 0", "card"]
    assert all("metadata" not in m for m in plain["messages"])
    first = web.conversations_history(channel=OPS_CHANNEL, limit=3, include_all_metadata=True)
    assert first["has_more"] and len(first["messages"]) == 3
    rest = web.conversations_history(channel=OPS_CHANNEL, limit=3, include_all_metadata=True,
                                     cursor=first["response_metadata"]["next_cursor"])
    assert [m["ts"] for m in rest["messages"]] == [posted["ts"]] and not rest["has_more"]
    assert rest["messages"][0]["metadata"] == card


def test_post_message_refuses_metadata_without_an_event_type(slack: RunningSlack) -> None:
    with pytest.raises(SlackApiError) as refused:
        client(slack).chat_postMessage(channel=OPS_CHANNEL, text="x",
                                       metadata={"event_payload": {"a": 1}})
    assert refused.value.response["error"] == "invalid_metadata_schema"
