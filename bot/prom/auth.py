"""The Authorization header of each query: none, a bearer token from an environment variable
(a `prometheus` source behind an authenticating proxy), or the bot's Entra ID token for an
Azure Monitor workspace. The token itself is never logged nor put into a message.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping

from bot.upgrade.errors import Cause, MeshUpgradeError, MetricsUnavailable

# The audience of Azure Monitor's Prometheus query API (learn.microsoft.com: "Query Prometheus
# metrics using the API and PromQL").
AZURE_MONITOR_SCOPE = "https://prometheus.monitor.azure.com/.default"
REFRESH_BEFORE = 300.0  # seconds before expiry a cached Entra ID token is replaced

TokenSource = Callable[[str], tuple[str, float]]  # scope -> (token, expires_on), as kube_tokens
Authorize = Callable[[], str | None]  # the Authorization header's value, if any


class TokenFailed(MetricsUnavailable):
    """No token could be had for the source: Entra ID's failure (Cause.TOKEN), or a bearer
    token variable that is not set (Cause.OTHER)."""

    def __init__(self, message: str, hint: str, cause: Cause) -> None:
        super().__init__(message, hint)
        self.cause = cause


def anonymous() -> str | None:
    return None


def bearer_from_env(variable: str, label: str,
                    env: Mapping[str, str] | None = None) -> Authorize:
    """`Bearer <token>` from `variable`, read at each query (so a restarted pod sees a new
    Secret); a missing variable names itself."""

    def authorize() -> str | None:
        token = (os.environ if env is None else env).get(variable, "").strip()
        if not token:
            raise TokenFailed(f"{label}: the environment variable {variable} "
                              "(traffic.source.bearer_token_env) is not set or empty.",
                              f"Set {variable} to the token Prometheus accepts (mount it from "
                              "a Secret), or remove bearer_token_env.", Cause.OTHER)
        return f"Bearer {token}"

    return authorize


class EntraBearer:
    """The bot's Entra ID token for `scope`, kept until REFRESH_BEFORE seconds before it
    expires; safe to share between threads."""

    def __init__(self, tokens: TokenSource, label: str,
                 scope: str = AZURE_MONITOR_SCOPE) -> None:
        self._tokens, self._label, self._scope = tokens, label, scope
        self._lock = threading.Lock()
        self._token, self._expires_on = "", 0.0

    def __call__(self) -> str | None:
        with self._lock:
            if time.time() >= self._expires_on - REFRESH_BEFORE:
                self._token, self._expires_on = self._fetch()
            return f"Bearer {self._token}"

    def _fetch(self) -> tuple[str, float]:
        try:
            return self._tokens(self._scope)
        except MeshUpgradeError as exc:
            raise TokenFailed(f"{self._label}: no Entra ID token for {self._scope}: "
                              f"{exc.message}", exc.hint, Cause.TOKEN) from exc
