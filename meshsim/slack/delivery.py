"""Delivering a command or a click to the app, over Socket Mode or as a signed HTTP POST.

Socket Mode wins when the app holds a connection; otherwise the POST goes to the configured
request URL, signed `v0=HMAC_SHA256(secret, "v0:{ts}:{body}")`. An attempt not acked within
the ack timeout (Slack's 3 s, in real time: the app acks on its wall clock whatever the sim's
speed) is delivered again with `retry_attempt` / `X-Slack-Retry-Num` and reason `timeout`, up
to `retries` times; a non-2xx answer is final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from meshsim.clock import SimClock
from meshsim.slack import seed
from meshsim.slack.socketmode import SocketMode
from meshsim.slack.workspace import JSON


@dataclass
class AppConfig:
    """How the simulated Slack reaches the app; changed with `POST /_sim/app`."""

    request_url: str | None = None
    ack_timeout: float = 3.0  # real seconds: the app acks on its wall clock, at any sim speed
    retries: int = 3
    signing_secret: str = seed.SIGNING_SECRET

    def to_json(self) -> JSON:
        return asdict(self)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class Delivery:
    def __init__(self, clock: SimClock, socket: SocketMode, config: AppConfig) -> None:
        self.clock = clock
        self.socket = socket
        self.config = config

    async def deliver(self, kind: str, payload: JSON) -> JSON:
        """Deliver until acked; `kind` is the envelope type: "slash_commands", "interactive" or
        "events_api" (an Events API `event_callback`, POSTed over HTTP as JSON)."""
        attempts: list[JSON] = []
        for attempt in range(self.config.retries + 1):
            outcome = await self._attempt(kind, payload, attempt)
            attempts.append(outcome)
            if outcome["acked"] or outcome.get("final"):
                break
        return _summary(attempts)

    async def _attempt(self, kind: str, payload: JSON, attempt: int) -> JSON:
        timeout = self.config.ack_timeout
        if self.socket.connected():
            return await self._over_socket(kind, payload, attempt, timeout)
        if self.config.request_url:
            return await self._over_http(kind, payload, attempt, timeout)
        return {"attempt": attempt, "mode": None, "acked": False, "final": True,
                "error": "dispatch_failed", "detail": "no app connected and no request_url"}

    async def _over_socket(self, kind: str, payload: JSON, attempt: int,
                           timeout: float) -> JSON:
        envelope = {"envelope_id": str(uuid.uuid4()), "type": kind, "payload": payload,
                    "accepts_response_payload": kind == "slash_commands",
                    "retry_attempt": attempt, "retry_reason": "timeout" if attempt else ""}
        outcome: JSON = {"attempt": attempt, "mode": "socket_mode",
                         "envelope_id": envelope["envelope_id"], "acked": False}
        try:
            sent_at, ack = await self.socket.send(envelope, timeout)
        except (ConnectionError, aiohttp.ClientError) as exc:
            return {**outcome, "error": "dispatch_failed", "detail": str(exc)}
        if ack is None:
            return {**outcome, "error": "operation_timeout"}
        return {**outcome, "acked": True, "response": ack.payload,
                **self._timing(ack.at - sent_at)}

    async def _over_http(self, kind: str, payload: JSON, attempt: int, timeout: float) -> JSON:
        body, headers = self._signed(kind, payload, attempt)
        outcome: JSON = {"attempt": attempt, "mode": "http", "acked": False}
        url = str(self.config.request_url)
        started = time.monotonic()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s, \
                    s.post(url, data=body, headers=headers) as resp:
                text = await resp.text()
                status = resp.status
        except TimeoutError:
            return {**outcome, "error": "operation_timeout"}
        except aiohttp.ClientError as exc:
            return {**outcome, "final": True, "error": "dispatch_failed", "detail": str(exc)}
        elapsed = time.monotonic() - started
        outcome.update(status=status, response=_parse(text), **self._timing(elapsed))
        if not 200 <= status < 300:
            return {**outcome, "final": True, "error": "dispatch_failed"}
        return {**outcome, "acked": True}

    def _signed(self, kind: str, payload: JSON, attempt: int) -> tuple[bytes, dict[str, str]]:
        if kind == "events_api":
            body, content_type = json.dumps(payload).encode(), "application/json"
        else:
            fields = payload if kind == "slash_commands" else {"payload": json.dumps(payload)}
            body, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
        # Real time, not Slack time: the app checks the stamp against its own wall clock
        # (slack_sdk SignatureVerifier rejects more than 300 s of skew).
        stamp = str(int(time.time()))
        headers = {"Content-Type": content_type,
                   "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
                   "X-Slack-Request-Timestamp": stamp,
                   "X-Slack-Signature": sign(self.config.signing_secret, stamp, body)}
        if attempt:  # Events API retries name the reason "http_timeout" (Events API docs)
            reason = "http_timeout" if kind == "events_api" else "timeout"
            headers.update({"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": reason})
        return body, headers

    def _timing(self, real_seconds: float) -> JSON:
        return {"ack_ms": round(real_seconds * 1000, 1),
                "ack_sim_ms": round(real_seconds * self.clock.speed * 1000, 1)}


def _parse(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _summary(attempts: list[JSON]) -> JSON:
    last = attempts[-1]
    summary: JSON = {"ok": bool(last["acked"]), "acked": bool(last["acked"]),
                     "mode": last["mode"], "attempts": attempts}
    for key in ("ack_ms", "ack_sim_ms", "response", "status", "error"):
        if key in last:
            summary[key] = last[key]
    return summary
