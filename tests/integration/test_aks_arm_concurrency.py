"""bot/azure/mesh.py when another tool changes the cluster between the bot's read and its PUT:
every PUT is conditional on the eTag just read, a 412 is answered by reading again and setting
only the revisions on the fresh body, so the other tool's tags and pool count survive and ARM
accepts exactly one PUT per revision change. Also what the bot offers from an unsupported
revision. The race is made deterministic by the simulator's control endpoint: a change queued
"afterNextGet" lands right after the GET that begin_set_revisions makes before its PUT."""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.containerservice import ContainerServiceClient

from bot.azure.mesh import PUT_ATTEMPTS, AksMesh
from bot.upgrade.errors import GiveUp, RetryLater
from bot.upgrade.mesh_facts import OpState, start_target
from meshsim.catalogue import Catalogue, RevisionInfo
from tests.integration.aks_harness import RG, SUB, Arm, serve_arm, start, wait_for
from tests.sim_bot import arm_credential

TARGET = ("asm-1-22", "asm-1-23")


@pytest.fixture
def arm(tmp_path: Path) -> Iterator[Arm]:
    with serve_arm(tmp_path) as running:
        running.cluster("aks1", kubernetes_version="1.30.7", revisions=["asm-1-22"])
        yield running


def control(arm: Arm, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """The simulator's control API over HTTPS, as a test or another process calls it."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(arm.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=arm.ca_path)
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return response.status, json.loads(response.read())


def other_tool(arm: Arm, **change: Any) -> int:
    return control(arm, "POST", "/_sim/arm/change-cluster", {"name": "aks1", **change})[0]


def put_statuses(arm: Arm) -> list[int]:
    """The managedCluster PUTs ARM answered, from its call log (GET /_sim/arm/calls)."""
    _, calls = control(arm, "GET", "/_sim/arm/calls?method=PUT&path=managedClusters")
    return [c["status"] for c in calls]


def test_a_change_raced_between_the_bots_read_and_its_put_survives_the_revision_change(
        arm: Arm) -> None:
    assert other_tool(arm, tags={"env": "prod"}) == 200
    mesh = arm.mesh()
    target = start_target(mesh.mesh_state(), "asm-1-23")
    queued = other_tool(arm, tags={"env": None, "owner": "platform"},
                        agentPoolCounts={"nodepool1": 5}, when="afterNextGet")

    op = mesh.begin_set_revisions(target)
    status = wait_for(mesh, op)
    state = arm.state()

    assert queued == 202 and op.sent and status.state is OpState.SUCCEEDED
    assert put_statuses(arm) == [412, 200]  # the 412 was not accepted: one PUT for one change
    assert state["revisions"] == state["applied"] == list(TARGET)
    assert state["tags"] == {"owner": "platform"}
    assert state["agentPoolCounts"] == {"nodepool1": 5}


def test_every_put_carries_if_match_with_the_etag_of_the_read_just_before(arm: Arm) -> None:
    seen: list[tuple[str, str | None]] = []  # ("GET", eTag read) or ("PUT", If-Match sent)

    def on_request(pipeline_request: Any) -> None:
        request = pipeline_request.http_request
        if request.method == "PUT":
            seen.append(("PUT", request.headers.get("If-Match")))

    def on_response(pipeline_response: Any) -> None:
        request, response = pipeline_response.http_request, pipeline_response.http_response
        if request.method == "GET" and request.url.split("?")[0].endswith("/aks1"):
            seen.append(("GET", response.json().get("eTag")))

    client = ContainerServiceClient(arm_credential(arm.sim), SUB, arm.base_url,
                                    connection_verify=arm.ca_path, retry_total=0,
                                    raw_request_hook=on_request, raw_response_hook=on_response)
    mesh = AksMesh(client, RG, "aks1")
    other_tool(arm, tags={"owner": "platform"}, when="afterNextGet")

    mesh.begin_set_revisions(TARGET)

    assert [kind for kind, _ in seen] == ["GET", "PUT", "GET", "PUT"]
    first_read, first_put, fresh_read, second_put = (value for _, value in seen)
    assert first_put == f'"{first_read}"' and second_put == f'"{fresh_read}"'
    assert first_read != fresh_read
    assert put_statuses(arm) == [412, 200]


def test_a_cluster_that_changes_before_every_put_is_left_untouched_for_a_later_try(
        arm: Arm) -> None:
    mesh = arm.mesh()
    for round_ in range(PUT_ATTEMPTS):
        other_tool(arm, tags={"round": str(round_)}, when="afterNextGet")

    with pytest.raises(RetryLater) as caught:
        mesh.begin_set_revisions(TARGET)
    refused = put_statuses(arm)
    state = arm.state()
    later = mesh.begin_set_revisions(TARGET)

    assert refused == [412] * PUT_ATTEMPTS  # none accepted
    assert "412 Precondition Failed" in caught.value.message
    assert f"{PUT_ATTEMPTS} times in a row" in caught.value.message
    assert caught.value.delay_seconds == 30.0 and "changed nothing" in caught.value.hint
    assert state["revisions"] == ["asm-1-22"] and state["provisioningState"] == "Succeeded"
    assert state["tags"] == {"round": str(PUT_ATTEMPTS - 1)}
    assert later.sent and put_statuses(arm) == [412] * PUT_ATTEMPTS + [200]


def test_a_change_made_before_the_bots_read_needs_no_second_put(arm: Arm) -> None:
    mesh = arm.mesh()
    target = start_target(mesh.mesh_state(), "asm-1-23")
    other_tool(arm, tags={"owner": "platform"}, agentPoolCounts={"nodepool1": 4})

    op = mesh.begin_set_revisions(target)
    wait_for(mesh, op)
    state = arm.state()

    assert put_statuses(arm) == [200]
    assert state["revisions"] == list(TARGET) and state["tags"] == {"owner": "platform"}
    assert state["agentPoolCounts"] == {"nodepool1": 4}


def unsupported_first() -> Catalogue:
    """asm-1-21 is out of support; as n+2 of it, asm-1-23 would be offered by the n+2 rule."""
    def info(name: str, lo: int, hi: int, upgrades: tuple[str, ...], supported: bool = True
             ) -> RevisionInfo:
        kubernetes = tuple(f"1.{m}" for m in range(lo, hi + 1))
        return RevisionInfo(name, f"1.{name[-2:]}.1", kubernetes, upgrades, supported)
    return Catalogue({
        "asm-1-21": info("asm-1-21", 26, 30, ("asm-1-22", "asm-1-23"), supported=False),
        "asm-1-22": info("asm-1-22", 27, 30, ("asm-1-23",)),
        "asm-1-23": info("asm-1-23", 28, 32, ()),
    })


def test_from_an_unsupported_revision_only_the_lowest_supported_is_offered_and_accepted(
        tmp_path: Path) -> None:
    with serve_arm(tmp_path, catalogue=unsupported_first()) as arm:
        arm.cluster("aks1", kubernetes_version="1.29.2", revisions=["asm-1-21"])
        mesh = arm.mesh()
        options = mesh.available_upgrades()
        with pytest.raises(GiveUp) as skipped:
            start(mesh, "asm-1-23")
        op = start(mesh, "asm-1-22")
        puts = put_statuses(arm)

    assert (options.current, options.upgrades, options.supported) == (
        "asm-1-21", ("asm-1-22",), False)
    assert ("Requested change in revisions is not allowed. Reason: Revision asm-1-23 is not a "
            "valid upgrade from asm-1-21. Allowed upgrades: asm-1-22.") in skipped.value.message
    assert op.sent and op.target == ("asm-1-21", "asm-1-22")
    assert puts == [400, 200]
