"""Two replicas on one PostgreSQL: one leads (a coordination.k8s.io Lease), the other takes over.

Both `mesh-upgrade-bot run` processes hold a Socket Mode connection to the simulated Slack,
which hands envelopes to its connections in turn, so both answer people; only the Lease holder
drives the run. It is killed with SIGKILL in the middle of the run: the other must hold the
Lease within the lease duration (plus two retry periods and a tolerance), finish the run on the
same card, and the cluster must end as in the engine's complete case. Who changed the cluster
is read from the simulated API server's request log (each replica sends its identity in its
User-Agent), not from the bot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from bot.cli.sandbox import sandbox_config
from bot.slack.wording.phrases import Subject
from bot.slack.wording.runs import reply_of
from bot.store.repository import Store, create_store
from bot.upgrade.phases import Phase
from meshsim.kube.requestinfo import RequestRecord
from meshsim.sim import MeshSim
from meshsim.slack import seed
from tests.e2e.slack_harness import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    SOAK,
    SPEED,
    texts,
    wait_until,
)
from tests.integration.conftest_workflow import NEW, OLD, Env, assert_only_on
from tests.integration.postgres_env import postgres_url
from tests.sim_bot import COMMAND as SIM_BOT
from tests.sim_bot import ROOT, bot_env

__all__ = ["postgres_url"]  # the fixture
CLUSTER, NAMESPACE, LEASE = "aks-sandbox", "mesh-upgrade-bot", "mesh-upgrade-bot-leader"
LEASE_SECONDS, RENEW_DEADLINE, RETRY_PERIOD = 3, 1.5, 1.0
# The follower sees the leader's last renewal up to one retry period late and counts the
# lease from then; it notices the expiry at its next look, up to one more period late.
TAKEOVER_WORST = LEASE_SECONDS + 2 * RETRY_PERIOD
TOLERANCE = 2.0  # process scheduling on a loaded machine
MUTATING = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass
class Replica:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def identity(self) -> str:
        return f"{self.name}_{self.process.pid}"

    def leads(self) -> int:
        return self.log.read_text().count(f"{self.identity()} leads")


@dataclass
class Holders:
    """Every Lease holder seen, in order (sampled whenever the test waits)."""

    api: kube_client.CoordinationV1Api
    seen: list[str] = field(default_factory=list)

    def now(self) -> str | None:
        try:
            spec = self.api.read_namespaced_lease(LEASE, NAMESPACE).spec
        except kube_client.ApiException:
            return None
        holder = spec.holder_identity if spec is not None else None
        if holder and (not self.seen or self.seen[-1] != holder):
            self.seen.append(holder)
        return holder if isinstance(holder, str) else None


def kube_api(sim: MeshSim) -> kube_client.ApiClient:
    api: kube_client.ApiClient = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        str(sim.kubeconfig), CLUSTER)
    return api


def _config(sim: MeshSim, path: Path) -> Path:
    data = sandbox_config(sim.describe(), SOAK, SPEED, "sqlite://").model_dump(mode="json")
    del data["database_url"]  # from MESH_UPGRADE_DATABASE_URL: it carries a password
    data["leader_election"] = {
        "enabled": True, "namespace": NAMESPACE, "lease_name": LEASE,
        "lease_duration": LEASE_SECONDS, "renew_deadline": RENEW_DEADLINE,
        "retry_period": RETRY_PERIOD,
        "access": {"mode": "kubeconfig", "kubeconfig": str(sim.kubeconfig), "context": CLUSTER}}
    path.write_text(yaml.safe_dump(data))
    return path


def _spawn(name: str, config: Path, sim: MeshSim, database: str, tmp: Path) -> Replica:
    described = sim.describe()
    env = {**os.environ, "SLACK_BOT_TOKEN": seed.BOT_TOKEN, "SLACK_APP_TOKEN": seed.APP_TOKEN,
           "MESH_UPGRADE_SLACK_API_URL": sim.slack.api_url, "MESH_UPGRADE_DATABASE_URL": database,
           **bot_env(described), "POD_NAME": name}
    log = tmp / f"{name}.log"
    with log.open("ab") as out:
        child = subprocess.Popen([*SIM_BOT, "run", "--config", str(config), "--mode", "socket",
                                  "--drive-every", "0.1", "--max-wait", "0.2", "--ops-port", "0"],
                                 env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    return Replica(name, child, log)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[MeshSim]:
    with MeshSim("bookinfo", SPEED, tmp_path / "sim") as running:
        kube_client.CoreV1Api(kube_api(running)).create_namespace(
            kube_client.V1Namespace(metadata=kube_client.V1ObjectMeta(name=NAMESPACE)))
        yield running


@pytest.fixture
def replicas(sim: MeshSim, postgres_url: str, tmp_path: Path) -> Iterator[list[Replica]]:
    create_store(postgres_url).close()  # the schema, before two processes race for it
    config = _config(sim, tmp_path / "bot.yaml")
    started = [_spawn(n, config, sim, postgres_url, tmp_path) for n in ("replica-a", "replica-b")]
    try:
        yield started
    finally:
        for r in started:
            if r.process.poll() is None:
                r.process.terminate()
                r.process.wait(10)


def _said(store: Store) -> dict[str, str]:
    """What each audit entry of the run says in the thread (its reply's text), by entry."""
    run = store.recent_runs(CLUSTER, 1)[0]
    return {e.what: reply_of(e, Subject.of(run))[1] for e in store.audit_log(run_id=run.id)}


def _phase(store: Store) -> Phase | None:
    runs = store.recent_runs(CLUSTER, 1)
    return runs[0].phase if runs else None


def _cards(sim: MeshSim) -> list[dict[str, Any]]:
    return [m for m in sim.slack.messages(CHANNEL)["messages"] if "Mesh upgrade ·" in texts(m)]


def _click(sim: MeshSim, user: str, action_id: str) -> dict[str, Any]:
    def clickable() -> bool:
        cards = _cards(sim)
        return bool(cards) and action_id in str(cards[0]["blocks"])
    wait_until(clickable, 30, f"button {action_id}")
    return sim.slack.click(user, CHANNEL, _cards(sim)[0]["ts"], action_id)


def _changes(records: list[RequestRecord], replica: Replica) -> list[RequestRecord]:
    """What the replica changed in the cluster, other than the Lease."""
    return [r for r in records if r.verb in MUTATING and r.resource != "leases"
            and replica.identity() in r.user_agent]


def test_the_follower_takes_over_a_killed_leader_and_finishes_the_run(
        sim: MeshSim, replicas: list[Replica], postgres_url: str) -> None:
    requests = sim.clusters[CLUSTER].request_log
    holders = Holders(kube_client.CoordinationV1Api(kube_api(sim)))
    store = create_store(postgres_url)
    try:
        wait_until(lambda: (sim.slack.configure_app()["socket_connections"] == 2
                            and holders.now() is not None)
                   or any(r.process.poll() is not None for r in replicas),
                   30, "both replicas connected, one holding the Lease")
        assert all(r.process.poll() is None for r in replicas), replicas[0].log.read_text()[-3000:]
        leader = next(r for r in replicas if r.identity() == holders.now())
        follower = next(r for r in replicas if r is not leader)

        # Both connections take turns, so the follower acks some of these and records approvals
        # (3 real seconds to ack, as Slack gives: no retry to the other connection).
        deliveries = [sim.slack.command(ALICE, CHANNEL, "/mesh-upgrade", f"start {CLUSTER}"),
                      _click(sim, BOB, "approve-start")]
        wait_until(lambda: holders.now() and _phase(store) is Phase.CANARY_READY, 40,
                   "canary ready")
        deliveries.append(_click(sim, CAROL, "approve-roll"))
        wait_until(lambda: holders.now() and _phase(store) is not Phase.CANARY_READY, 20, "roll")
        card_ts = _cards(sim)[0]["ts"]

        leader.process.send_signal(signal.SIGKILL)
        killed_at, at_kill = time.monotonic(), len(requests.records())
        killed_in = _phase(store)
        leader.process.wait(10)
        taken_at = wait_until(lambda: holders.now() == follower.identity() and time.monotonic(),
                              LEASE_SECONDS + RETRY_PERIOD + 10, "the follower holding the Lease")
        takeover = taken_at - killed_at
        time.sleep(0.2)  # a request the leader sent just before it died is served by now
        after_takeover = len(requests.records())
        print(f"\ntakeover after SIGKILL: {takeover:.2f} s (lease {LEASE_SECONDS} s, "
              f"retry {RETRY_PERIOD} s); killed in {killed_in}")

        wait_until(lambda: _phase(store) is Phase.AWAITING_DECISION, 40, "awaiting decision")
        deliveries.append(_click(sim, BOB, "approve-complete"))
        wait_until(lambda: _phase(store) is Phase.COMPLETED, 40, "completed")
        wait_until(lambda: "Completed" in texts(_cards(sim)[0]), 15, "the final card")
        said = _said(store)
        wait_until(lambda: any(said["phase completed"] == r.get("text")
                               for r in _cards(sim)[0]["replies"]),
                   15, "the last reply in the thread")
    finally:
        store.close()

    assert killed_in not in (None, Phase.COMPLETED, Phase.CANARY_READY)
    assert takeover <= TAKEOVER_WORST + TOLERANCE, f"took {takeover:.2f} s"
    assert holders.seen == [leader.identity(), follower.identity()]
    assert (leader.leads(), follower.leads()) == (1, 1)
    assert all(d["acked"] and len(d["attempts"]) == 1 for d in deliveries), [
        d["attempts"] for d in deliveries]

    records = requests.records()
    early, late = records[:at_kill], records[after_takeover:]
    assert _changes(early, leader) and not _changes(early, follower), "only the leader works"
    assert _changes(late, follower), "the new leader finished the run"
    assert not [r for r in late if leader.identity() in r.user_agent]

    cards = _cards(sim)
    assert [c["ts"] for c in cards] == [card_ts], "one card, the same one, before and after"
    replies = [str(r.get("text", "")) for r in cards[0]["replies"]]
    for phase in ("canary_ready", "verifying", "awaiting_decision", "completed"):
        assert replies.count(said[f"phase {phase}"]) == 1, phase
    waves = [words for what, words in said.items() if what.startswith("rollout restart wave")]
    assert waves and all(replies.count(w) == 1 for w in waves), \
        "each restart wave once, across the takeover"
    assert len([c for c in sim.arm.calls("PUT", "/managedClusters/")
                if c.status is not None and c.status < 300]) == 2
    assert_only_on(Env(sim, None, None), keep=NEW, gone=OLD)  # type: ignore[arg-type]
