"""Translate azure-core/ARM errors into the project's RetryLater and GiveUp.

The AKS RP's own message is kept word for word: for a 409 it names the operation that holds
the cluster, for a 400 it says why the revision change is not allowed. A 401/403 names the
Azure RBAC action the bot's identity lacks, so the Slack card can tell people what to grant.
A PUT that keeps meeting 412 (another tool keeps changing the cluster) is retried later.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from bot.upgrade.errors import (
    Cause,
    GiveUp,
    MeshUpgradeError,
    RetryLater,
    error_cause,
    error_for_status,
    retry_after_seconds,
)

_PROVIDER = "Microsoft.ContainerService"
# Azure RBAC actions each adapter call needs (docs: "Azure permissions for Containers").
READ_CLUSTER = f"{_PROVIDER}/managedClusters/read"
WRITE_CLUSTER = f"{_PROVIDER}/managedClusters/write"
READ_UPGRADES = f"{_PROVIDER}/managedClusters/meshUpgradeProfiles/read"
READ_REVISIONS = f"{_PROVIDER}/locations/meshRevisionProfiles/read"
READ_OPERATION = f"{_PROVIDER}/locations/operations/read"
READ_MAINTENANCE = f"{_PROVIDER}/managedClusters/maintenanceConfigurations/read"
LIST_USER_CREDENTIALS = f"{_PROVIDER}/managedClusters/listClusterUserCredential/action"

# When ARM gives no Retry-After on a connection failure, wait as long as for a 5xx.
_NETWORK_DELAY = 15.0
# After repeated 412s another tool is busy with the cluster; ARM's own poll interval is 30 s.
_CHANGED_DELAY = 30.0
# ARM AuthorizationFailed: "... does not have authorization to perform action 'X' over scope ..."
_ACTION_IN_MESSAGE = re.compile(r"perform action '([^']+)'")


@contextmanager
def arm_errors(cluster: str, doing: str, permission: str,
               on_error: Callable[[Cause], None] | None = None) -> Iterator[None]:
    """Raise the project's error for any azure-core error inside the block (and tell
    `on_error` its cause, which counts failed calls for the bot's /metrics)."""
    try:
        yield
    except MeshUpgradeError:
        raise
    except AzureError as exc:
        if on_error is not None:
            on_error(cause_of(exc))
        raise translate(exc, cluster, doing, permission) from exc


def cause_of(exc: AzureError) -> Cause:
    """An authentication error without an HTTP response is azure-identity failing to get a
    token (MSAL and the credential chain raise it so); with one, ARM refused the token."""
    if isinstance(exc, ClientAuthenticationError) and exc.response is None:
        return Cause.TOKEN
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return error_cause(exc.status_code)
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return Cause.NETWORK
    return Cause.OTHER


def translate(exc: AzureError, cluster: str, doing: str, permission: str) -> MeshUpgradeError:
    """`doing` is a phrase such as "change the mesh revisions"; `permission` an RBAC action."""
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return _from_status(exc, exc.status_code, cluster, doing, permission)
    if isinstance(exc, ClientAuthenticationError):
        return GiveUp(
            f"Could not get an Azure token to {doing} on {cluster}: {_first_line(exc)}",
            "Check the bot's Azure identity (workload identity or AZURE_* settings).",
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return RetryLater(f"Could not reach ARM to {doing} on {cluster}: {_first_line(exc)}",
                          _NETWORK_DELAY)
    return GiveUp(f"Unexpected Azure error while trying to {doing} on {cluster}: {exc}")


def rp_message(exc: HttpResponseError) -> str:
    """The RP's own words: `error.message`, else the HTTP reason."""
    detail = exc.error
    if detail is not None and detail.message:
        return str(detail.message)
    return _first_line(exc)


def _from_status(exc: HttpResponseError, status: int, cluster: str, doing: str,
                 permission: str) -> MeshUpgradeError:
    said = rp_message(exc)
    retry_after = _retry_after(exc)
    if status in (401, 403):
        return _not_permitted(status, said, cluster, doing, permission)
    if status == 404:
        return GiveUp(f"Cluster not found: {cluster} ({said})",
                      "Check the subscription, resource group and cluster name in the "
                      "configuration.")
    if status == 409:
        return error_for_status(409, f"{cluster} is busy, could not {doing}: {said}",
                                retry_after=retry_after)
    if status == 429:
        return error_for_status(429, f"ARM throttled the bot ({doing} on {cluster}): {said}",
                                retry_after=retry_after)
    if status >= 500 or status == 408:
        message = f"ARM failed to {doing} on {cluster} (HTTP {status}): {said}"
        return error_for_status(status, message, retry_after=retry_after)
    return GiveUp(f"ARM refused to {doing} on {cluster}: {said}", _hint_for(status, said))


def changed_meanwhile(cluster: str, doing: str, attempts: int) -> RetryLater:
    """RetryLater for a PUT refused `attempts` times with 412 Precondition Failed: another
    tool changed the cluster each time between the bot's read and its write."""
    return RetryLater(
        f"Could not {doing} on {cluster}: someone else changed the cluster between the bot's "
        f"read and its write, {attempts} times in a row (ARM answered 412 Precondition Failed).",
        _CHANGED_DELAY,
        f"The bot changed nothing and keeps the other change; it reads the cluster again "
        f"and retries in {_CHANGED_DELAY:g} s.")


def _not_permitted(status: int, said: str, cluster: str, doing: str, permission: str) -> GiveUp:
    action = _missing_action(said) or permission
    grant = (f"`{action}` on the cluster (for example through the 'Azure Kubernetes Service "
             "Contributor' role)")
    if status == 401:  # the token itself was refused: wrong tenant, expired or no identity
        hint = f"ARM refused the bot's Azure token; check its identity, which needs {grant}."
    else:
        hint = f"Grant the bot's identity {grant}."
    return GiveUp(f"The bot may not {doing} on {cluster} (HTTP {status}, needs {action}): {said}",
                  hint)


def _hint_for(status: int, said: str) -> str:
    if "revision" in said.lower():
        return "See which revisions are allowed (az aks mesh get-upgrades / get-revisions)."
    return f"HTTP {status}: fix the request or the cluster, then try again."


def _missing_action(message: str) -> str | None:
    match = _ACTION_IN_MESSAGE.search(message)
    return match[1] if match else None


def _retry_after(exc: HttpResponseError) -> float | None:
    """ARM's `retry-after-ms` (or `x-ms-retry-after-ms`) first, then Retry-After."""
    response: Any = exc.response
    headers = response.headers if response is not None else {}
    millis = headers.get("retry-after-ms") or headers.get("x-ms-retry-after-ms")
    if millis:
        return retry_after_seconds(millis, scale=1000.0)
    return retry_after_seconds(headers.get("retry-after"))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
