"""The elector on meshsim's coordination.k8s.io Lease API, in this process: one leader at a time,
a stopped leader hands over at once, and a leader that sees another holder stops at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes import client as kube_client

from bot.kube.lease import ElectionSettings, Elector
from meshsim.sim import MeshSim
from tests.e2e.slack_harness import wait_until
from tests.e2e.test_ha_failover import kube_api

NAMESPACE, LEASE = "mesh-upgrade-bot", "mesh-upgrade-bot-leader"


class Work:
    """What the callbacks did, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def lead(self) -> None:
        self.events.append("lead")

    def lose(self) -> None:
        self.events.append("lose")


@pytest.fixture
def api() -> Iterator[kube_client.ApiClient]:
    with MeshSim("bookinfo", 1.0) as sim:
        client = kube_api(sim)
        kube_client.CoreV1Api(client).create_namespace(
            kube_client.V1Namespace(metadata=kube_client.V1ObjectMeta(name=NAMESPACE)))
        yield client


def _elector(api: kube_client.ApiClient, who: str, work: Work, lease_duration: int = 3,
             renew_deadline: float = 1.5) -> Elector:
    settings = ElectionSettings(NAMESPACE, LEASE, who, lease_duration=lease_duration,
                                renew_deadline=renew_deadline, retry_period=1.0)
    return Elector(api, settings, work.lead, work.lose)


def _holder(api: kube_client.ApiClient) -> str | None:
    spec = kube_client.CoordinationV1Api(api).read_namespaced_lease(LEASE, NAMESPACE).spec
    return None if spec is None else spec.holder_identity


def test_one_leads_and_a_stopped_leader_hands_over_before_the_lease_expires(
        api: kube_client.ApiClient) -> None:
    a_work, b_work = Work(), Work()
    a, b = _elector(api, "a", a_work), _elector(api, "b", b_work)
    a.start()
    wait_until(a.is_leader, 10, "a leading")
    b.start()
    time.sleep(2.5)  # b looks at the Lease at least twice meanwhile
    assert (a.is_leader(), b.is_leader(), _holder(api)) == (True, False, "a")
    a.stop()
    # Read at once: a Lease a had only stopped renewing would still name a for seconds (it
    # expires 3 s after the last renewal); a released one has no holder, or b already.
    released = _holder(api)
    wait_until(b.is_leader, 5, "b leading")
    b.stop()
    assert released in (None, "b"), f"the Lease still names {released}: not released"
    assert (a_work.events, b_work.events) == (["lead", "lose"], ["lead", "lose"])
    assert _holder(api) is None


def test_a_leader_that_sees_another_holder_stops_at_once_and_follows(
        api: kube_client.ApiClient) -> None:
    work = Work()
    # The library alone would keep leading for the renew deadline (5 s) after its last
    # renewal; stepping down at once means at the next look (every 1 s). 3 s tells them apart
    # with 2 s to spare either way.
    a = _elector(api, "a", work, lease_duration=6, renew_deadline=5.0)
    a.start()
    wait_until(a.is_leader, 10, "a leading")
    leases = kube_client.CoordinationV1Api(api)
    lease = leases.read_namespaced_lease(LEASE, NAMESPACE)
    assert lease.spec is not None
    lease.spec.holder_identity = "intruder"  # e.g. a's renewals were lost and it expired
    leases.replace_namespaced_lease(LEASE, NAMESPACE, lease)
    wait_until(lambda: not a.is_leader(), 3, "a stepping down")
    assert work.events == ["lead", "lose"]
    wait_until(a.is_leader, 15, "a leading again once the intruder's lease expired")
    a.stop()
    assert work.events == ["lead", "lose", "lead", "lose"]
