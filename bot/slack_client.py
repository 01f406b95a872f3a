"""The bot's Slack Web API client (counting failed calls for `/metrics`), and doctor's checks.

Slack answers most method errors with HTTP 200 and `ok: false`, which slack_sdk raises as
SlackApiError after its retry handlers have run; a subclass of WebClient sees each of them,
and connection errors too, exactly once per call (after retries), whatever method was called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.metrics import record_api_error
from bot.notifier import retry_handlers

TIMEOUT = 30


class CountingWebClient(WebClient):
    def api_call(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().api_call(*args, **kwargs)
        except (SlackClientError, OSError):  # SlackApiError is a SlackClientError
            record_api_error("slack")
            raise


def build_counting_client(token: str, base_url: str | None = None) -> WebClient:
    """Like bot.notifier.build_client: the same retry handlers and timeout."""
    kwargs: dict[str, Any] = {"base_url": base_url} if base_url else {}
    return CountingWebClient(token=token, timeout=TIMEOUT, retry_handlers=retry_handlers(),
                             **kwargs)


def ack_kind(body: Any) -> str:
    """What a Slack request was, for the ack latency histogram's `kind` label."""
    if not isinstance(body, dict):
        return "other"
    if body.get("command"):
        return "command"
    kind = str(body.get("type") or "")
    if kind in ("block_actions", "view_submission", "view_closed", "shortcut",
                "message_action", "block_suggestion"):
        return "interaction"
    return "event" if kind == "event_callback" else "other"


# --- what `doctor` asks Slack ----------------------------------------------------------------


@dataclass(frozen=True)
class TokenCheck:
    """A token as Slack sees it: refused (`error`), or whose it is and its granted scopes."""

    error: str = ""
    who: str = ""
    name: str = ""  # the bot user's name, for `/invite @name`
    scopes: tuple[str, ...] | None = None  # None: Slack sent no x-oauth-scopes header


def check_bot_token(token: str, base_url: str | None = None) -> TokenCheck:
    """auth.test; Slack names the token's scopes in the `x-oauth-scopes` response header."""
    try:
        response = _plain(token, base_url).auth_test()
    except SlackApiError as exc:
        return TokenCheck(error=str(exc.response.get("error") or exc))
    except (SlackClientError, OSError) as exc:
        return TokenCheck(error=f"Slack unreachable: {exc}")
    who = f"{response.get('user')} ({response.get('user_id')}) in {response.get('team')}"
    return TokenCheck(who=who, name=str(response.get("user") or ""),
                      scopes=_scopes(response.headers))


def check_app_token(token: str, base_url: str | None = None) -> TokenCheck:
    """apps.connections.open, what Socket Mode calls first (the URL it hands out is unused)."""
    try:
        response = _plain(token, base_url).apps_connections_open(app_token=token)
    except SlackApiError as exc:
        return TokenCheck(error=str(exc.response.get("error") or exc))
    except (SlackClientError, OSError) as exc:
        return TokenCheck(error=f"Slack unreachable: {exc}")
    return TokenCheck(who="may open Socket Mode connections", scopes=_scopes(response.headers))


def channel_membership(token: str, channel: str, base_url: str | None = None
                       ) -> tuple[bool, str]:
    """(the bot is a member, the channel's name or Slack's error)."""
    try:
        info = _plain(token, base_url).conversations_info(channel=channel)
    except SlackApiError as exc:
        return False, str(exc.response.get("error") or exc)
    except (SlackClientError, OSError) as exc:
        return False, f"Slack unreachable: {exc}"
    data = info.get("channel") or {}
    return bool(data.get("is_member")), f"#{data.get('name', channel)}"


def usergroup_ids(token: str, base_url: str | None = None) -> tuple[frozenset[str], str]:
    """(ids of the workspace's user groups, Slack's error if it would not list them)."""
    try:
        found = _plain(token, base_url).usergroups_list()
    except SlackApiError as exc:
        return frozenset(), str(exc.response.get("error") or exc)
    except (SlackClientError, OSError) as exc:
        return frozenset(), f"Slack unreachable: {exc}"
    return frozenset(str(g.get("id")) for g in found.get("usergroups") or []), ""


def _plain(token: str, base_url: str | None) -> WebClient:
    kwargs: dict[str, Any] = {"base_url": base_url} if base_url else {}
    return WebClient(token=token, timeout=TIMEOUT, retry_handlers=retry_handlers(), **kwargs)


def _scopes(headers: Any) -> tuple[str, ...] | None:
    """The `x-oauth-scopes` header, whatever case the server (or a proxy) gave its name."""
    items = headers.items() if hasattr(headers, "items") else ()
    value = next((v for k, v in items if str(k).lower() == "x-oauth-scopes"), None)
    if value is None:
        return None
    if isinstance(value, list):  # slack_sdk keeps some headers as lists of values
        value = ",".join(value)
    return tuple(s.strip() for s in str(value).split(",") if s.strip())
