"""The App Home: `views.publish` of a user's Home tab, and `app_home_opened` when they open it.

views.publish takes `user_id`, `view` (a JSON string, or an object in a JSON body) and an
optional `hash`; it answers `{"view": {...}}` as Slack does (id, team_id, type, blocks with
block ids, private_metadata, callback_id, state, hash, root_view_id, app_id, external_id,
app_installed_team_id, bot_id). Refusals use Slack's codes: `invalid_arguments` with
`response_metadata.messages` for a bad view or blocks (a home view holds at most 100 blocks, of
the types Slack allows on surfaces: no `file`, no `markdown`), `view_too_large` (over 250 kB),
`hash_conflict` (the hash is not the stored view's). Sources: api.slack.com/methods/
views.publish, api.slack.com/events/app_home_opened, Block Kit "Blocks" reference (limits).
Opening the Home tab delivers an Events API `event_callback` envelope whose `event` is
`{"type": "app_home_opened", "user", "channel" (the app's DM with the user), "tab": "home",
"event_ts", "view"?}`; `view` only once a view was published, as Slack does.
"""

from __future__ import annotations

import itertools
import json
import secrets

from meshsim.slack import blockkit, seed
from meshsim.slack.delivery import Delivery
from meshsim.slack.payloads import NotFound
from meshsim.slack.webapi import JSON, ApiCall, ApiError, WebApi
from meshsim.slack.workspace import Workspace

HOME_BLOCKS = 100
MAX_VIEW_BYTES = 250_000
HOME_BLOCK_TYPES = frozenset({"actions", "context", "divider", "header", "image", "input",
                              "section", "video", "rich_text"})
_TEXT_LIMITS = (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255))


def dm_channel(user: str) -> str:
    """The id of the app's DM with `user` (the App Home's `channel`): stable per user."""
    return "D" + user.removeprefix("U").removeprefix("W")


class HomeTabs:
    def __init__(self, workspace: Workspace, delivery: Delivery) -> None:
        self.ws = workspace
        self.delivery = delivery
        self._views: dict[str, JSON] = {}  # user -> the published view, as Slack returns it
        self._ids = itertools.count(1)
        self._events = itertools.count(1)

    def register(self, api: WebApi) -> None:
        api.register("views.publish", self.publish, "bot")

    def view(self, user: str) -> JSON | None:
        with self.ws.lock:
            found = self._views.get(user)
            return None if found is None else json.loads(json.dumps(found))

    async def publish(self, call: ApiCall) -> JSON:
        user = call.need("user_id")
        if user not in self.ws.users or self.ws.users[user].is_bot:
            raise _invalid(f"invalid user_id: {user} [json-pointer:/user_id]")
        view = _parsed_view(call)
        with self.ws.lock:
            stored = self._views.get(user)
            wanted = call.get("hash")
            if wanted and stored is not None and wanted != stored["hash"]:
                raise ApiError("hash_conflict")
            published = self._stored(view, stored)
            self._views[user] = published
            return {"view": json.loads(json.dumps(published))}

    def _stored(self, view: JSON, before: JSON | None) -> JSON:
        view_id = before["id"] if before else f"V0SIM{next(self._ids):05d}"
        return {
            "id": view_id, "team_id": seed.TEAM_ID, "type": "home",
            "blocks": blockkit.with_block_ids(view.get("blocks") or []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""), "state": {"values": {}},
            "hash": f"{int(self.ws.clock.now())}.{secrets.token_hex(4)}",
            "title": {"type": "plain_text", "text": "View Title", "emoji": True},
            "clear_on_close": False, "notify_on_close": False, "close": None, "submit": None,
            "previous_view_id": None, "root_view_id": view_id, "app_id": seed.APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": seed.TEAM_ID, "bot_id": seed.BOT_ID,
        }

    async def open(self, user_id: str) -> JSON:
        """`user_id` opens the app's Home tab: deliver `app_home_opened` to the app."""
        user = self.ws.users.get(user_id)
        if user is None or user.is_bot:
            raise NotFound(f"no user {user_id!r}")
        outcome = await self.delivery.deliver("events_api", self.event(user.id))
        return {**outcome, "view": self.view(user.id)}

    def event(self, user: str) -> JSON:
        now = self.ws.clock.now()
        inner: JSON = {"type": "app_home_opened", "user": user, "channel": dm_channel(user),
                       "tab": "home", "event_ts": f"{now:.6f}"}
        view = self.view(user)
        if view is not None:
            inner["view"] = view
        return {
            "token": seed.VERIFICATION_TOKEN, "team_id": seed.TEAM_ID,
            "api_app_id": seed.APP_ID, "event": inner, "type": "event_callback",
            "event_id": f"Ev0SIM{next(self._events):06d}", "event_time": int(now),
            "authorizations": [{"enterprise_id": None, "team_id": seed.TEAM_ID,
                                "user_id": seed.BOT_USER_ID, "is_bot": True,
                                "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
        }


def _parsed_view(call: ApiCall) -> JSON:
    raw = call.params.get("view")
    if raw is None or raw == "":
        raise _invalid("missing required field: view [json-pointer:/view]")
    size = len(raw if isinstance(raw, str) else json.dumps(raw))
    view = call.json_field("view", "invalid_arguments")
    if size > MAX_VIEW_BYTES:
        raise ApiError("view_too_large")
    if not isinstance(view, dict):
        raise _invalid("must provide an object [json-pointer:/view]")
    errors = _view_errors(view)
    if errors:
        raise _invalid(*errors)
    return view


def _view_errors(view: JSON) -> list[str]:
    if view.get("type") != "home":
        return ["must be a valid enum value: home [json-pointer:/view/type]"]
    errors = []
    for key, most in _TEXT_LIMITS:
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > most):
            errors.append(f"must be less than {most + 1} characters [json-pointer:/view/{key}]")
    if "blocks" not in view:
        errors.append("missing required field: blocks [json-pointer:/view]")
    return errors + blockkit.validate(view.get("blocks", []), HOME_BLOCKS, HOME_BLOCK_TYPES,
                                      "/view/blocks")


def _invalid(*errors: str) -> ApiError:
    return ApiError("invalid_arguments",
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
