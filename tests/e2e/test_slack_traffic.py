"""Traffic gates through Slack, read from a real Prometheus scraping meshsim's proxies.

Bookinfo's cluster rolls in six waves, one per namespace. With a bad proxy on the canary
revision, the run stops after the first wave and names the workload with its figures; a
rollback through the card brings the numbers back. Without the fault the same run completes,
its verdicts in the thread, and a quiet workload (ratings-v1) shows "no verdict". Through the
Azure Monitor workspace front (Entra ID tokens), a breach is overridden with a reason and the
run goes on; with `on_breach: rollback` the bot rolls back by itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.config.settings import SlackMode
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Phase
from meshsim.kube.resources import by_kind
from meshsim.prometheus import PrometheusServer
from meshsim.sim import MeshSim
from tests.e2e.slack_harness import ALICE, BOB, CAROL, SPEED, Harness, bot_for, texts, wait_until
from tests.meshsim.traffic_env import MeshEnv, require_prometheus

CLUSTER, OLD, NEW = "aks-sandbox", "asm-1-22", "asm-1-23"
WINDOW = "5s"  # baseline and observation windows, real seconds (five scrapes)
# The plan's waves: monitoring's DaemonSet first, then catalog, default (bookinfo), frontend,
# orders and payments (legacy follows the default tag and is left for its owners).
WAVES, FIRST = 6, ("monitoring", "log-agent")


@contextmanager
def traffic_bot(tmp_path: Path, via: str = "prometheus", on_breach: str = "propose"
                ) -> Iterator[tuple[Harness, MeshEnv]]:
    require_prometheus()
    with MeshSim("bookinfo", SPEED, tmp_path / "sim") as sim, \
            PrometheusServer(sim.describe()["telemetry"], tmp_path / "prometheus") as prom:
        url = prom.url if via == "prometheus" else sim.start_azure_monitor(prom.url)
        source = {"kind": via, "url": url, "labels": {"cluster": CLUSTER}}
        cluster = {"traffic": {"source": source, "baseline_window": WINDOW,
                               "observation_window": WINDOW, "on_breach": on_breach}}
        database = f"sqlite:///{tmp_path / 'bot.db'}"
        bot = bot_for(sim, database, SlackMode.SOCKET, cluster=cluster)
        bot.start()
        wait_until(lambda: sim.slack.configure_app()["socket_connections"], 10, "Socket Mode")
        try:
            yield Harness(sim, bot, database), MeshEnv(sim, prom)
        finally:
            bot.stop()


def _roll(h: Harness) -> None:
    h.command(ALICE, f"start {CLUSTER}")
    h.wait_button("approve-start")
    h.click(BOB, "approve-start")
    h.wait_phase(Phase.CANARY_READY, timeout=60)
    h.wait_button("approve-roll")
    h.click(CAROL, "approve-roll")


def _thread(h: Harness) -> str:
    return "\n".join(texts(r) for r in h.replies())


def _reply(h: Harness, *parts: str, timeout: float = 60.0) -> str:
    def found() -> str | None:
        return next((t for r in h.replies() if all(p in (t := texts(r)) for p in parts)), None)
    return str(wait_until(found, timeout, f"a thread reply with {parts!r}"))


def _verdicts(h: Harness) -> list[dict[str, Any]]:
    store = h.bot.services.store
    return [e.detail for e in store.audit_log(run_id=h.run().id)
            if e.kind is AuditKind.TRAFFIC_VERDICT]


def _revisions(h: Harness, namespace: str) -> set[str]:
    """The sidecar revisions of the namespace's pods, as their injection recorded them."""
    pods = h.sim.clusters[CLUSTER].store.list(by_kind("Pod"))
    return {json.loads(p["metadata"]["annotations"]["sidecar.istio.io/status"])["revision"]
            for p in pods if p["metadata"]["namespace"] == namespace}


def _first_success(env: MeshEnv) -> float:
    got = env.success(f'destination_workload_namespace="{FIRST[0]}"')
    return got.get(FIRST, float("nan"))


def test_a_bad_proxy_stops_the_waves_and_a_rollback_brings_the_numbers_back(
        tmp_path: Path) -> None:
    with traffic_bot(tmp_path) as (h, env):
        h.sim.clusters[CLUSTER].set_bad_proxy(NEW, 0.2, 250)
        _roll(h)
        breach = _reply(h, f"Traffic got worse after wave 1 of {WAVES}", FIRST[1])
        run = wait_until(lambda: (r := h.run()).paused and r, 30, "the run held")
        assert run.phase is Phase.ROLLING
        assert FIRST[1] in (run.pause_reason or "")
        [verdict] = _verdicts(h)
        assert verdict["gate"] == "wave" and verdict["wave"] == 1 and verdict["held"]
        worst = verdict["verdict"]["judgements"][0]
        assert worst["workload"] == "/".join(FIRST) and worst["outcome"] == "breached"
        before = worst["before"]["errors"] / worst["before"]["requests"]
        after = worst["after"]["errors"] / worst["after"]["requests"]
        assert before < 0.01 and 0.12 < after < 0.28  # the fault's 20 % on the moved pods
        assert worst["after"]["p99_ms"] > worst["before"]["p99_ms"] + 150
        assert "%" in breach and "ms" in breach  # figures, not only a name
        chart = wait_until(lambda: next((f for r in h.replies() for f in r.get("files", [])
                                         if "traffic" in f.get("name", "")), None),
                           30, "the breach's chart in the thread")
        assert chart["name"].endswith(".png")
        # Further waves are stopped: bookinfo's pods still run the old revision.
        time.sleep(2)
        assert _revisions(h, "default") == {OLD}
        assert h.run().phase is Phase.ROLLING
        h.wait_button("approve-rollback")
        h.click(BOB, "approve-rollback")
        h.wait_phase(Phase.ROLLED_BACK, timeout=90)
        assert _revisions(h, FIRST[0]) == {OLD}
        # Prometheus sees the workload healthy again once its old-revision pods serve.
        wait_until(lambda: _first_success(env) > 0.99, 30, "the success rate back")


def test_without_a_fault_the_run_completes_with_verdicts_and_a_quiet_workload_has_none(
        tmp_path: Path) -> None:
    with traffic_bot(tmp_path) as (h, _):
        _roll(h)
        h.wait_button("approve-complete", timeout=120)
        verdicts = _verdicts(h)
        waves = [v for v in verdicts if v["gate"] == "wave"]
        assert [v["wave"] for v in waves] == list(range(1, WAVES + 1))
        assert all(v["verdict"]["outcome"] == "passed" for v in waves)
        bookinfo = next(v for v in waves if any(j["workload"] == "default/ratings-v1"
                                                for j in v["verdict"]["judgements"]))
        quiet = next(j for j in bookinfo["verdict"]["judgements"]
                     if j["workload"] == "default/ratings-v1")
        assert quiet["outcome"] == "no_verdict"
        soak = next(v for v in verdicts if v["gate"] == "soak")
        assert soak["verdict"]["outcome"] == "passed" and not soak["held"]
        moved = {j["workload"] for j in soak["verdict"]["judgements"]}
        assert {"catalog/catalog-api", "default/productpage-v1", "frontend/web"} <= moved
        thread = _thread(h)
        assert "ratings-v1" in thread and "too little traffic" in thread
        # The checks posted while the canary soaks carry each moved workload's figures.
        checks = [texts(r) for r in h.replies() if texts(r).startswith("Check · aks-sandbox")]
        assert any("req/s" in c and "productpage-v1" in c for c in checks), checks
        h.click(BOB, "approve-complete")
        h.wait_phase(Phase.COMPLETED, timeout=90)


def test_azure_monitor_path_with_an_override_that_is_audited(tmp_path: Path) -> None:
    with traffic_bot(tmp_path, via="azure_monitor") as (h, _):
        kube = h.sim.clusters[CLUSTER]
        kube.set_bad_proxy(NEW, 0.2, 250)
        _roll(h)
        wait_until(lambda: (r := h.run()).paused and r, 60, "the run held")
        kube.clear_bad_proxy()
        # Continue without a reason is refused, and says how to give one.
        h.wait_card("Continue")
        h.click(CAROL, "approve-roll")
        refusal = h.wait_ephemeral(CAROL, "holds run")
        assert f"/mesh-upgrade override {CLUSTER}" in refusal
        assert h.run().paused
        # mallory is not an approver: her override changes nothing.
        h.command("U0MALLORY", f"override {CLUSTER} ship it anyway please")
        h.wait_ephemeral("U0MALLORY", "Nothing was done")
        h.command(CAROL, f"override {CLUSTER} the 5xx come from a test client we retired")
        h.wait_ephemeral(CAROL, "override is recorded")
        # The run goes on: the next wave is baselined, restarted and judged, and it passes.
        wait_until(lambda: any(v["gate"] == "wave" and v["wave"] == 2 for v in _verdicts(h)),
                   60, "wave 2's verdict")
        assert [v["verdict"]["outcome"] for v in _verdicts(h)][:2] == ["breached", "passed"]
        audit = h.bot.services.store.audit_log(run_id=h.run().id)
        [override] = [e for e in audit if e.kind is AuditKind.TRAFFIC_OVERRIDDEN]
        assert override.actor == CAROL
        assert override.detail["reason"] == "the 5xx come from a test client we retired"
        assert override.detail["outcome"] == "breached"
        assert "retired" in _thread(h)
        # The same run completes through the workspace: every later wave and the soak pass.
        h.wait_button("approve-complete", timeout=120)
        verdicts = _verdicts(h)
        assert [v["verdict"]["outcome"] for v in verdicts if v["gate"] == "wave"][1:] == \
            ["passed"] * (WAVES - 1)
        assert next(v for v in verdicts if v["gate"] == "soak")["verdict"]["outcome"] == "passed"
        h.click(BOB, "approve-complete")
        h.wait_phase(Phase.COMPLETED, timeout=90)
        front = h.sim.azure_monitor
        assert front is not None and front.served >= 3 * (2 * WAVES + 1) and front.refused == 0


def test_on_breach_rollback_rolls_back_by_itself_and_says_so(tmp_path: Path) -> None:
    with traffic_bot(tmp_path, on_breach="rollback") as (h, _):
        h.sim.clusters[CLUSTER].set_bad_proxy(NEW, 0.2, 250)
        _roll(h)
        h.wait_phase(Phase.ROLLED_BACK, timeout=120)
        history = h.bot.services.store.history(h.run().id)
        back = next(c for c in history if c.to_phase is Phase.ROLLING_BACK)
        assert back.by == "bot" and f"traffic breached after wave 1 of {WAVES}" in back.why
        assert "rolling back" in _thread(h).lower()


def test_a_metrics_source_that_stops_answering_is_no_verdict_and_holds_the_run(
        tmp_path: Path) -> None:
    with traffic_bot(tmp_path) as (h, env):
        _roll(h)
        store = h.bot.services.store
        wait_until(lambda: any(e.kind is AuditKind.RESTART_WAVE
                               for e in store.audit_log(run_id=h.run().id)), 60, "wave 1")
        env.prometheus.close()  # the baseline was taken; the observation finds nobody
        run = wait_until(lambda: (r := h.run()).paused and r, 60, "the run held")
        assert run.phase is Phase.ROLLING
        assert "Could not judge the traffic of wave 1" in (run.pause_reason or "")
        [verdict] = _verdicts(h)
        assert verdict["verdict"]["outcome"] == "unavailable" and verdict["held"]
        said = _reply(h, "No verdict on the traffic after wave 1", "not a pass")
        assert "Prometheus at http://127.0.0.1" in said
        assert _revisions(h, "default") == {OLD}  # no further wave
        assert "Continue… reads it again" in texts(h.wait_card("metrics source did not answer"))
