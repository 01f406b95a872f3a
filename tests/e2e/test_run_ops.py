"""`mesh-upgrade-bot run` as a child process: /healthz follows Slack, the scheduler and the
database; /metrics counts acks, runs by phase, steps and API errors; HTTP mode verifies
signatures; and DEBUG logs (slack_sdk and azure-core log request details) hold no secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshsim.sim import MeshSim
from meshsim.slack import seed
from tests.e2e.run_process import SPEED, RunningBot, secret_strings, start_bot
from tests.e2e.slack_harness import ALICE, CHANNEL, texts, wait_until


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[MeshSim]:
    with MeshSim("bookinfo", SPEED, tmp_path / "sim") as running:
        yield running


def health(bot: RunningBot) -> tuple[int, dict[str, dict[str, object]]]:
    status, body = bot.get("/healthz")
    return status, json.loads(body)["checks"]


def wait_health(bot: RunningBot, code: int, timeout: float) -> dict[str, dict[str, object]]:
    """The checks of /healthz once it answers `code`."""
    checks: dict[str, dict[str, object]] = wait_until(
        lambda: (h := health(bot))[0] == code and h[1], timeout, f"/healthz {code}")
    return checks


# Libraries log only warnings unless named: these log request details at DEBUG.
DEBUG_EVERYTHING = ("--log-level", "DEBUG", "--log-level", "slack_sdk=DEBUG,azure=DEBUG")


def metric(bot: RunningBot, sample: str) -> float:
    """The value of one sample line of /metrics (0 when absent)."""
    for line in bot.get("/metrics")[1].splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def slack_errors(bot: RunningBot) -> float:
    """Failed Slack calls, whatever their cause."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in bot.get("/metrics")[1].splitlines()
               if line.startswith('mesh_upgrade_api_errors_total{cause="')
               and 'system="slack"' in line)


def start_an_upgrade(sim: MeshSim) -> None:
    answer = sim.slack.command(ALICE, CHANNEL, "/mesh-upgrade", "start aks-sandbox")
    assert answer["acked"], answer
    wait_until(lambda: any("Mesh upgrade ·" in texts(m)
                           for m in sim.slack.messages(CHANNEL)["messages"]), 30, "the run card")


def assert_no_secret_in(log: Path, sim: MeshSim) -> None:
    text = log.read_text()
    assert '"level":"DEBUG","logger":"slack_sdk' in text  # the test looked at DEBUG output
    assert '"logger":"azure.core' in text
    for secret in secret_strings(sim):
        assert secret not in text, f"{secret[:6]}... leaked into the log"
    for line in text.splitlines():
        json.loads(line)  # every line is one JSON object


def test_socket_mode_health_metrics_and_debug_logs_without_secrets(sim: MeshSim,
                                                                   tmp_path: Path) -> None:
    bot = start_bot(sim, tmp_path, "socket", *DEBUG_EVERYTHING)
    try:
        checks = wait_health(bot, 200, 30)
        assert checks["slack"] == {"ok": True, "detail": "Socket Mode connected"}
        assert checks["scheduler"]["ok"] and checks["database"]["ok"]
        start_an_upgrade(sim)
        assert metric(bot, 'mesh_upgrade_ack_latency_seconds_count{kind="command"}') >= 1
        assert metric(bot, 'mesh_upgrade_ack_latency_seconds_bucket{kind="command",le="3.0"}') \
            >= 1
        assert metric(bot, 'mesh_upgrade_runs{phase="planned"}') == 1
        assert metric(bot, 'mesh_upgrade_runs{phase="rolling"}') == 0
        assert metric(bot, "mesh_upgrade_active") == 1
        wait_until(lambda: metric(bot, 'mesh_upgrade_step_duration_seconds_count'
                                       '{phase="planned",step="await_approval"}') >= 1,
                   10, "a timed step")
        assert bot.get("/livez")[0] == 200
    finally:
        bot.stop()
    assert bot.process.returncode == 0
    assert_no_secret_in(bot.log, sim)
    assert '"run_id":1,"cluster":"aks-sandbox"' in bot.log.read_text()


def test_healthz_turns_503_without_database_or_slack_and_recovers(sim: MeshSim,
                                                                  tmp_path: Path) -> None:
    bot = start_bot(sim, tmp_path, "socket")
    try:
        wait_health(bot, 200, 30)
        away = bot.database.with_name("moved-away.db")
        bot.database.rename(away)
        try:
            checks = wait_health(bot, 503, 10)
        finally:
            away.rename(bot.database)
        assert checks["database"]["ok"] is False
        assert "unable to open database file" in str(checks["database"]["detail"])
        assert checks["slack"]["ok"] is True
        wait_health(bot, 200, 10)

        before = slack_errors(bot)
        sim.slack.faults.add(verb="POST", path="/api/apps.connections.open", status=500,
                             count=None)  # Slack's edge drops us and refuses new connections
        urllib.request.urlopen(urllib.request.Request(
            f"{sim.slack.base_url}/_sim/socket/drop", data=b"{}", method="POST"), timeout=10)
        checks = wait_health(bot, 503, 15)
        assert checks["slack"] == {"ok": False, "detail": "Socket Mode disconnected"}
        wait_until(lambda: slack_errors(bot) > before,
                   15, "a counted Slack error")
        sim.slack.faults.clear()
        wait_health(bot, 200, 30)  # reconnected
        assert sim.slack.configure_app()["socket_connections"] == 1
    finally:
        bot.stop()


def _signed(body: str, secret: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest.hexdigest()}",
            "Content-Type": "application/x-www-form-urlencoded"}


def _post(url: str, body: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_http_mode_answers_signed_requests_refuses_bad_signatures_and_serves_ops(
        sim: MeshSim, tmp_path: Path) -> None:
    bot = start_bot(sim, tmp_path, "http", *DEBUG_EVERYTHING)
    try:
        assert bot.events_url is not None
        sim.slack.configure_app(request_url=bot.events_url)
        checks = wait_health(bot, 200, 30)
        assert str(checks["slack"]["detail"]).startswith("serving /slack/events")
        start_an_upgrade(sim)  # the simulated Slack signs each request with the app's secret
        body = urllib.parse.urlencode({"command": "/mesh-upgrade", "text": "status",
                                       "user_id": ALICE, "channel_id": CHANNEL,
                                       "team_id": seed.TEAM_ID})
        assert _post(bot.events_url, body, _signed(body, "not-the-signing-secret")) == 401
        assert _post(bot.events_url, body, {**_signed(body, seed.SIGNING_SECRET),
                                            "X-Slack-Request-Timestamp": "1"}) == 401
        assert _post(bot.events_url, body, _signed(body, seed.SIGNING_SECRET)) == 200
        assert metric(bot, 'mesh_upgrade_ack_latency_seconds_count{kind="command"}') >= 2
        assert metric(bot, 'mesh_upgrade_runs{phase="planned"}') == 1
    finally:
        bot.stop()
    assert bot.process.returncode == 0
    assert_no_secret_in(bot.log, sim)
