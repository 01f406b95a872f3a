"""One Prometheus-compatible query API over HTTP (Prometheus itself, or an Azure Monitor
workspace's query endpoint): POST /api/v1/query with bounded retries, and every failure as
MetricsUnavailable naming the source, what happened and what to check.

Retried, `retries` more times 0.5 s, 1 s, 2 s ... apart: no connection, no answer within
`timeout`, 429 and 5xx (Prometheus answers 503 to a query that ran out of its own `timeout`);
a Retry-After is not waited out, the gate's deadline is short. Not retried: 400/422 (the query
as written; Prometheus' errorType and error are quoted), 401/403, 404, and TLS failures.
TLS is verified against `ca_file`, else REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE as requests reads
them (how azure-core trusts the simulator's test CA), else the system's store.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3

from bot.prom.auth import Authorize, TokenFailed, anonymous
from bot.prom.queries import Sample
from bot.upgrade.errors import Cause, MetricsUnavailable, error_cause

BACKOFF = 0.5  # seconds before the first retry; doubled before each next one
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # requests' order (utils.py)
TLS_HINT = ("Check that the bot trusts the server's certificate: REQUESTS_CA_BUNDLE names a "
            "CA bundle for a private CA.")


@dataclass(frozen=True)
class Hints:
    """What to check, by kind of failure; they differ between Prometheus and Azure Monitor."""

    reach: str  # no connection, no answer, 404, 429, 5xx
    auth: str  # 401, 403
    query: str  # 400, 422: the query was refused as written


@dataclass(frozen=True)
class _Failure:
    what: str
    cause: Cause
    retry: bool
    hint: str


class PromApi:
    """POST /api/v1/query on `base_url`; `sent` counts every HTTP request, retries included.
    `on_error` hears the cause of each query that failed for good."""

    def __init__(self, base_url: str, label: str, hints: Hints, *,
                 authorize: Authorize = anonymous, timeout: float = 10.0, retries: int = 2,
                 ca_file: str | None = None, on_error: Callable[[Cause], None] | None = None,
                 backoff: float = BACKOFF, env: Mapping[str, str] | None = None) -> None:
        self.url = base_url.rstrip("/") + "/api/v1/query"
        self.label, self.hints, self.timeout, self.retries = label, hints, timeout, retries
        self._authorize, self._backoff = authorize, backoff
        self._on_error = on_error or _nothing
        self._http = urllib3.PoolManager(maxsize=4, retries=False,
                                         timeout=urllib3.Timeout(total=timeout),
                                         **tls_options(base_url, ca_file, env))
        self._lock = threading.Lock()
        self._sent = 0

    @property
    def sent(self) -> int:
        return self._sent

    def close(self) -> None:
        self._http.clear()

    def query(self, promql: str, at: float) -> list[Sample]:
        """The instant vector (or scalar) `promql` evaluates to at unix time `at`."""
        body = urlencode({"query": promql, "time": f"{at:.3f}", "timeout": f"{self.timeout:g}s"})
        attempt = 0
        while True:
            outcome = self._attempt(body)
            if not isinstance(outcome, _Failure):
                return outcome
            if not outcome.retry or attempt >= self.retries:
                break
            time.sleep(self._backoff * 2 ** attempt)
            attempt += 1
        self._on_error(outcome.cause)
        tries = f" ({attempt + 1} attempts)" if attempt else ""
        raise MetricsUnavailable(f"{self.label}: {outcome.what}{tries}.", outcome.hint)

    def _attempt(self, body: str) -> list[Sample] | _Failure:
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Accept": "application/json"}
        try:
            authorization = self._authorize()
        except TokenFailed as exc:
            self._on_error(exc.cause)
            raise
        if authorization:
            headers["Authorization"] = authorization
        with self._lock:
            self._sent += 1
        try:
            response = self._http.request("POST", self.url, body=body, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            return self._unanswered(exc)
        return self._read(response.status, response.data)

    def _unanswered(self, exc: urllib3.exceptions.HTTPError) -> _Failure:
        reach = self.hints.reach
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: test it first.
        if isinstance(exc, urllib3.exceptions.NewConnectionError):
            return _Failure(f"no connection ({_reason(exc)})", Cause.NETWORK, True, reach)
        if isinstance(exc, urllib3.exceptions.TimeoutError):
            return _Failure(f"no answer within {self.timeout:g} s (timeout)", Cause.TIMEOUT,
                            True, reach)
        if isinstance(exc, urllib3.exceptions.SSLError):
            return _Failure(f"TLS failed ({_reason(exc)})", Cause.NETWORK, False, TLS_HINT)
        return _Failure(f"the connection failed ({_reason(exc)})", Cause.NETWORK, True, reach)

    def _read(self, status: int, raw: bytes) -> list[Sample] | _Failure:
        data = _json(raw)
        if status == 200 and data is not None and data.get("status") == "success":
            try:
                return samples(data.get("data") or {})
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                return _Failure(f"an answer that is not an instant vector ({exc})",
                                Cause.OTHER, False, self.hints.query)
        said = _said(data, raw)
        cause = error_cause(status)
        if status in (401, 403):
            return _Failure(f"HTTP {status}: {said}", cause, False, self.hints.auth)
        if status == 429 or status >= 500:
            return _Failure(f"HTTP {status}: {said}", cause, True, self.hints.reach)
        if status in (400, 422):
            return _Failure(f"the query was refused, HTTP {status}: {said}", cause, False,
                            self.hints.query)
        return _Failure(f"HTTP {status}: {said}", cause, False, self.hints.reach)


def tls_options(url: str, ca_file: str | None,
                env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """urllib3's TLS settings for `url`: verified, against the first CA bundle named."""
    if not url.startswith("https://"):
        return {}
    values = os.environ if env is None else env
    bundle = ca_file or next((values[v] for v in CA_VARIABLES if values.get(v)), None)
    if not bundle:
        return {"cert_reqs": "CERT_REQUIRED"}
    return {"cert_reqs": "CERT_REQUIRED",
            "ca_cert_dir" if os.path.isdir(bundle) else "ca_certs": bundle}


def samples(data: Mapping[str, Any]) -> list[Sample]:
    """An instant query's `data` as (labels, value) pairs; a scalar has no labels."""
    kind, result = data["resultType"], data["result"]
    if kind == "vector":
        return [(item.get("metric") or {}, float(item["value"][1])) for item in result]
    if kind == "scalar":
        return [({}, float(result[1]))]
    raise ValueError(f"resultType {kind}")


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _said(data: Mapping[str, Any] | None, raw: bytes) -> str:
    """Prometheus' `errorType: error`, Azure's `{"error": {"code", "message"}}`, or the text."""
    error = (data or {}).get("error")
    if isinstance(error, str) and error:
        kind = (data or {}).get("errorType")
        return f"{kind}: {error}" if kind else error
    if isinstance(error, dict) and (error.get("message") or error.get("code")):
        return ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))
    text = raw.decode("utf-8", "replace").strip()
    return text[:300] or "an empty answer"


def _reason(exc: urllib3.exceptions.HTTPError) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    # urllib3 prefixes the connection object's repr: "<HTTPConnection object at 0x..>: ..."
    return text.split(">: ", 1)[-1]


def _nothing(_cause: Cause) -> None:
    pass
