"""Who is in which Slack user group, asked at click time and remembered briefly.

An approval is only as good as the membership behind it, so it is resolved when the button is
clicked (never when the card was posted) with `usergroups.users.list`, cached for a short TTL
(the method is Tier 2: about 20 calls a minute), and any failure fails closed: `None` tells the
approval policy that membership is unknown, and only a listed user may then approve.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)
DEFAULT_TTL = 30.0  # seconds; someone removed from a group loses approval rights this fast


class Membership:
    def __init__(self, client: WebClient, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client, self._ttl, self._clock = client, ttl, clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def groups_of(self, user_id: str, groups: Iterable[str]) -> frozenset[str] | None:
        """The groups among `groups` that `user_id` is in; None if any could not be read."""
        found: set[str] = set()
        for group in groups:
            members = self.members(group)
            if members is None:
                return None
            if user_id in members:
                found.add(group)
        return frozenset(found)

    def members(self, group: str) -> frozenset[str] | None:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        members = self._fetch(group)
        if members is not None:
            with self._lock:
                self._cache[group] = (now, members)
        return members

    def _fetch(self, group: str) -> frozenset[str] | None:
        try:
            response = self._client.usergroups_users_list(usergroup=group, include_disabled=False)
        except SlackApiError as exc:  # plan_upgrade_required, no_such_subteam, missing_scope ...
            log.warning("usergroups.users.list %s failed: %s", group, exc.response.get("error"))
            return None
        except (SlackClientError, OSError) as exc:
            log.warning("usergroups.users.list %s failed: %s", group, exc)
            return None
        users = response.get("users")
        if not isinstance(users, list):
            return None
        return frozenset(u for u in users if isinstance(u, str))
