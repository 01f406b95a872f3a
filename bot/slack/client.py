"""The bot's Slack Web API clients (one builder, counting failed calls for `/metrics` when
asked), and doctor's checks.

Slack answers most method errors with HTTP 200 and `ok: false`, which slack_sdk raises as
SlackApiError after its retry handlers have run; a subclass of WebClient sees each of them,
and connection errors too, exactly once per call (after retries), whatever method was called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.web import SlackResponse

from bot.upgrade.errors import Cause, error_cause

TIMEOUT = 30


def retry_handlers() -> list[RetryHandler]:
    """What every Slack client of the bot retries: dropped connections, and 429s as Slack says
    (`RateLimitErrorRetryHandler` sleeps in the calling thread: never on an ack path)."""
    return [ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=5)]


# Slack's `error` codes (HTTP 200, ok: false) that name a cause of the shared taxonomy.
_SLACK_CAUSES = {
    "ratelimited": Cause.THROTTLED, "invalid_auth": Cause.UNAUTHORIZED,
    "not_authed": Cause.UNAUTHORIZED, "token_revoked": Cause.UNAUTHORIZED,
    "token_expired": Cause.UNAUTHORIZED, "account_inactive": Cause.UNAUTHORIZED,
    "missing_scope": Cause.FORBIDDEN, "not_in_channel": Cause.FORBIDDEN,
    "not_allowed_token_type": Cause.FORBIDDEN, "restricted_action": Cause.FORBIDDEN,
    "channel_not_found": Cause.NOT_FOUND, "message_not_found": Cause.NOT_FOUND,
    "user_not_found": Cause.NOT_FOUND, "request_timeout": Cause.TIMEOUT,
    "internal_error": Cause.SERVER, "fatal_error": Cause.SERVER,
    "service_unavailable": Cause.SERVER,
}


def slack_cause(exc: Exception) -> Cause:
    """The cause of a failed Web API call: by Slack's error code, else the HTTP status."""
    if not isinstance(exc, SlackApiError):
        return Cause.NETWORK  # no answer: connection refused or reset, a timeout
    status = exc.response.status_code
    code = exc.response.get("error") if isinstance(exc.response.data, dict) else None
    known = _SLACK_CAUSES.get(str(code)) if code else None
    return known or (error_cause(status) if status != 200 else Cause.INVALID)


class CountingWebClient(WebClient):
    """Tells `on_error` the cause of every call that failed (after its retries)."""

    def __init__(self, *args: Any, on_error: Callable[[Cause], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_error = on_error

    def api_call(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().api_call(*args, **kwargs)
        except (SlackClientError, OSError) as exc:  # SlackApiError is a SlackClientError
            self.on_error(slack_cause(exc))
            raise


def build_client(token: str, base_url: str | None = None, *,
                 on_error: Callable[[Cause], None] | None = None) -> WebClient:
    """A WebClient with the bot's retry handlers and timeout; with `on_error`, the bot's own,
    whose failed calls `/metrics` counts (doctor's one-off checks are not counted)."""
    kwargs: dict[str, Any] = {"base_url": base_url} if base_url else {}
    common = {"token": token, "timeout": TIMEOUT, "retry_handlers": retry_handlers(), **kwargs}
    if on_error is None:
        return WebClient(**common)
    return CountingWebClient(on_error=on_error, **common)


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
    response, error = _ask(lambda c: c.auth_test(), token, base_url)
    if response is None:
        return TokenCheck(error=error)
    who = f"{response.get('user')} ({response.get('user_id')}) in {response.get('team')}"
    return TokenCheck(who=who, name=str(response.get("user") or ""),
                      scopes=_scopes(response.headers))


def check_app_token(token: str, base_url: str | None = None) -> TokenCheck:
    """apps.connections.open, what Socket Mode calls first (the URL it hands out is unused)."""
    response, error = _ask(lambda c: c.apps_connections_open(app_token=token), token, base_url)
    if response is None:
        return TokenCheck(error=error)
    return TokenCheck(who="may open Socket Mode connections", scopes=_scopes(response.headers))


def channel_membership(token: str, channel: str, base_url: str | None = None
                       ) -> tuple[bool, str]:
    """(the bot is a member, the channel's name or Slack's error)."""
    info, error = _ask(lambda c: c.conversations_info(channel=channel), token, base_url)
    if info is None:
        return False, error
    data = info.get("channel") or {}
    return bool(data.get("is_member")), f"#{data.get('name', channel)}"


def usergroup_ids(token: str, base_url: str | None = None) -> tuple[frozenset[str], str]:
    """(ids of the workspace's user groups, Slack's error if it would not list them)."""
    found, error = _ask(lambda c: c.usergroups_list(), token, base_url)
    if found is None:
        return frozenset(), error
    return frozenset(str(g.get("id")) for g in found.get("usergroups") or []), ""


def _ask(call: Callable[[WebClient], SlackResponse], token: str, base_url: str | None
         ) -> tuple[SlackResponse | None, str]:
    """(Slack's answer, "") or (None, Slack's error code, or why Slack was not reached)."""
    try:
        return call(build_client(token, base_url)), ""
    except SlackApiError as exc:
        return None, str(exc.response.get("error") or exc)
    except (SlackClientError, OSError) as exc:
        return None, f"Slack unreachable: {exc}"


def _scopes(headers: Any) -> tuple[str, ...] | None:
    """The `x-oauth-scopes` header, whatever case the server (or a proxy) gave its name."""
    items = headers.items() if hasattr(headers, "items") else ()
    value = next((v for k, v in items if str(k).lower() == "x-oauth-scopes"), None)
    if value is None:
        return None
    if isinstance(value, list):  # slack_sdk keeps some headers as lists of values
        value = ",".join(value)
    return tuple(s.strip() for s in str(value).split(",") if s.strip())
