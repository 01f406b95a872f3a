"""The project's own errors, which every adapter translates SDK errors into.

Two families matter to the workflow: RetryLater (try the same step again after a delay) and
GiveUp (a person must fix something first). The rest name a refusal of the bot's own rules.
Every message is read by people in Slack: it says what was wrong and, in `hint`, what to do.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Sequence
from enum import StrEnum

# Default waits when the server sends no Retry-After. ARM's own LRO poll interval is 30 s.
_DEFAULT_DELAYS = {409: 30.0, 429: 30.0}
_SERVER_ERROR_DELAY = 15.0


class MeshUpgradeError(Exception):
    """Base of every error the bot reports to people."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class RetryLater(MeshUpgradeError):
    """Transient: 409 operation in progress, 429 throttled, 5xx. The same step may repeat."""

    def __init__(self, message: str, delay_seconds: float, hint: str = "") -> None:
        super().__init__(message, hint or f"The bot retries in {delay_seconds:g} s.")
        self.delay_seconds = delay_seconds


class GiveUp(MeshUpgradeError):
    """Permanent: 400, 401/403 (a permission is missing), 404. Retrying changes nothing."""


class MetricsUnavailable(GiveUp):
    """The traffic gates' metrics source failed or timed out after its bounded retries: the
    gate has no verdict, which never counts as a pass."""


class StaleVersion(MeshUpgradeError):
    """Optimistic lock: the run moved on since the caller read it (a stale or double click)."""

    def __init__(self, run_id: int, expected: int, actual: int) -> None:
        super().__init__(
            f"Run {run_id} changed since this was shown (version {expected}, now {actual}).",
            "Nothing was done. Look at the updated card and click again if still needed.",
        )
        self.run_id, self.expected, self.actual = run_id, expected, actual


class RunConflict(MeshUpgradeError):
    """One active run per cluster: names the run that holds the cluster and who asked for it."""

    def __init__(self, cluster: str, run_id: int, holder: str, phase: str = "") -> None:
        state = f" ({phase})" if phase else ""
        super().__init__(
            f"Cluster {cluster} already has run {run_id}{state}, requested by <@{holder}>.",
            f"Finish, roll back or cancel run {run_id} first.",
        )
        self.cluster, self.run_id, self.holder, self.phase = cluster, run_id, holder, phase


class GateRefused(MeshUpgradeError):
    """Complete or rollback refused because something is left on the revision being removed."""

    def __init__(self, action: str, remaining: Sequence[str], hint: str = "") -> None:
        shown = ", ".join(remaining[:10]) + (" …" if len(remaining) > 10 else "")
        super().__init__(
            f"Cannot {action} yet: {len(remaining)} left: {shown}.",
            hint or "Restart them (or wait for their rollouts) and try again.",
        )
        self.action, self.remaining = action, tuple(remaining)


class TrafficHeld(MeshUpgradeError):
    """Continue or Complete while a traffic gate holds the run and nobody overrode it."""


class NotAllowed(MeshUpgradeError):
    """An approval or command refused by the approval policy."""


def error_for_status(
    status: int, message: str, *, retry_after: float | None = None, hint: str = ""
) -> MeshUpgradeError:
    """Map an HTTP status from ARM or the API server onto RetryLater or GiveUp."""
    if status in (408, 409, 429) or status >= 500:
        delay = retry_after if retry_after is not None else _delay_for(status)
        return RetryLater(message, delay, hint)
    if status in (401, 403):
        return GiveUp(message, hint or "The bot's identity lacks a permission; grant it.")
    if status == 404:
        return GiveUp(message, hint or "Check the names in the configuration.")
    return GiveUp(message, hint)


def _delay_for(status: int) -> float:
    return _DEFAULT_DELAYS.get(status, _SERVER_ERROR_DELAY)


def retry_after_seconds(value: str | None, scale: float = 1.0) -> float | None:
    """A Retry-After header in seconds (or, with `scale=1000`, milliseconds) or as an HTTP
    date (RFC 9110 §10.2.3), as a wait of at least 0 s; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value) / scale)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Cause(StrEnum):
    """Why a call to an outside system failed, in words that hold across ARM, Kubernetes,
    Slack and Entra ID (the `cause` label of mesh_upgrade_api_errors_total)."""

    THROTTLED = "throttled"  # 429
    UNAUTHORIZED = "unauthorized"  # 401: the token was refused
    FORBIDDEN = "forbidden"  # 403: a permission or scope is missing
    NOT_FOUND = "not_found"  # 404
    CONFLICT = "conflict"  # 409, 412: another writer, or an operation in progress
    INVALID = "invalid"  # any other 4xx: the request itself was refused
    TIMEOUT = "timeout"  # 408, or no answer in time
    SERVER = "server"  # 5xx
    NETWORK = "network"  # no HTTP answer at all: refused, reset, DNS, TLS
    TOKEN = "token"  # no token could be obtained (counted as Entra ID's failure)
    OTHER = "other"


_CAUSES = {429: Cause.THROTTLED, 401: Cause.UNAUTHORIZED, 403: Cause.FORBIDDEN,
           404: Cause.NOT_FOUND, 409: Cause.CONFLICT, 412: Cause.CONFLICT, 408: Cause.TIMEOUT}


def error_cause(status: int | None) -> Cause:
    """The cause of a failed call from its HTTP status (None or 0: no answer came)."""
    if not status:
        return Cause.NETWORK
    if status >= 500:
        return Cause.SERVER
    return _CAUSES.get(status, Cause.INVALID if 400 <= status < 500 else Cause.OTHER)
