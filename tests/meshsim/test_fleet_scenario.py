"""The `fleet` scenario: eight small clusters in three rings on several Kubernetes versions and
revisions, so that a fleet upgrade to FLEET_TARGET meets a cluster already there and one that
needs a Kubernetes upgrade first, seen through azure-mgmt-containerservice and kubectl; and
`fleet50`, fifty small clusters served from one process, quick to start."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.containerservice import ContainerServiceClient

from meshsim.arm.rp import available_upgrades
from meshsim.sim import FLEET_SIZE, FLEET_TARGET, SCENARIOS, MeshSim
from tests.sim_bot import credential

# name -> (Kubernetes version, revision, what meshUpgradeProfiles offers)
FLEET = {
    "aks-dev-1": ("1.30.6", "asm-1-22", ["asm-1-23", "asm-1-24"]),
    "aks-dev-2": ("1.31.4", "asm-1-24", None),  # on the target already
    "aks-staging-1": ("1.31.4", "asm-1-23", ["asm-1-24"]),
    "aks-staging-2": ("1.29.9", "asm-1-22", ["asm-1-23", "asm-1-24"]),
    "aks-prod-weu-1": ("1.30.6", "asm-1-22", ["asm-1-23", "asm-1-24"]),
    "aks-prod-weu-2": ("1.30.6", "asm-1-23", ["asm-1-24"]),
    "aks-prod-eus-1": ("1.31.4", "asm-1-23", ["asm-1-24"]),
    "aks-prod-eus-2": ("1.27.100", "asm-1-22", ["asm-1-23"]),  # asm-1-24 needs 1.28+
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSim]:
    with MeshSim("fleet", speed=20, workdir=tmp_path_factory.mktemp("fleet")) as sim:
        yield sim


def arm_client(described: dict[str, Any]) -> ContainerServiceClient:
    first = described["clusters"][0]
    return ContainerServiceClient(credential(described), first["subscription_id"],
                                  base_url=described["arm"]["url"],
                                  connection_verify=described["arm"]["ca_file"])


def test_fleet_has_three_rings_on_several_kubernetes_versions_and_revisions(
        fleet: MeshSim) -> None:
    clusters = fleet.describe()["clusters"]
    served = {c["name"]: (fleet.clusters[c["name"]].kubernetes_version, c["revisions"])
              for c in clusters}
    assert served == {name: (k8s, [rev]) for name, (k8s, rev, _) in FLEET.items()}
    rings = {c["name"].split("-")[1] for c in clusters}
    assert rings == {"dev", "staging", "prod"}
    assert {c["location"] for c in clusters if "-eus-" in c["name"]} == {"eastus"}
    assert len({k8s for k8s, _, _ in FLEET.values()}) >= 4


def test_arm_offers_the_target_to_most_but_not_before_a_kubernetes_upgrade(
        fleet: MeshSim) -> None:
    described = fleet.describe()
    client = arm_client(described)
    got = {}
    for c in described["clusters"]:
        mc = client.managed_clusters.get(c["resource_group"], c["name"])
        profile = client.managed_clusters.get_mesh_upgrade_profile(c["resource_group"],
                                                                    c["name"], "istio")
        assert profile.properties is not None
        got[c["name"]] = (mc.kubernetes_version, profile.properties.revision,
                          profile.properties.upgrades)
    assert got == FLEET
    takers = [name for name, (_, _, offered) in got.items() if FLEET_TARGET in (offered or [])]
    assert len(takers) == 6
    assert not fleet.arm.catalogue.compatible(FLEET_TARGET, "1.27.100")


def test_some_clusters_carry_weekly_maintenance_windows(fleet: MeshSim) -> None:
    described = fleet.describe()
    client = arm_client(described)
    windows = {}
    for c in described["clusters"]:
        for config in client.maintenance_configurations.list_by_managed_cluster(
                c["resource_group"], c["name"]):
            weekly = config.maintenance_window.schedule.weekly
            windows[(c["name"], config.name)] = (weekly.day_of_week,
                                                 config.maintenance_window.utc_offset)
    assert windows == {
        ("aks-staging-1", "aksManagedAutoUpgradeSchedule"): ("Saturday", "+00:00"),
        ("aks-prod-weu-1", "aksManagedAutoUpgradeSchedule"): ("Sunday", "+01:00"),
        ("aks-prod-weu-1", "aksManagedNodeOSUpgradeSchedule"): ("Sunday", "+01:00"),
        ("aks-prod-eus-1", "aksManagedNodeOSUpgradeSchedule"): ("Wednesday", "-05:00"),
    }


def kubectl(kubeconfig: str, cache: Path, *args: str) -> str:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "--cache-dir", str(cache),
                           *args], check=True, capture_output=True, text=True,
                          timeout=30).stdout


def test_kubectl_lists_the_pods_and_version_of_a_prod_cluster(
        fleet: MeshSim, tmp_path: Path) -> None:
    config = fleet.describe()["kubeconfig"]
    pods = json.loads(kubectl(config, tmp_path, "--context", "aks-prod-eus-2", "get", "pods",
                              "-A", "-o", "json"))["items"]
    ready = {(p["metadata"]["namespace"], p["metadata"]["labels"].get("app")) for p in pods
             if p["status"]["phase"] == "Running"}
    assert {("shop", "cart"), ("shop", "checkout"), ("web", "storefront")} <= ready
    assert any(p["metadata"]["name"].startswith("istiod-asm-1-22-") for p in pods)
    version = json.loads(kubectl(config, tmp_path, "--context", "aks-prod-eus-2", "version",
                                 "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == "v1.27.100"


def test_fifty_clusters_start_in_seconds_and_each_answers_its_version(tmp_path: Path) -> None:
    started = time.monotonic()
    with MeshSim("fleet50", speed=20, workdir=tmp_path) as sim:
        took = time.monotonic() - started
        versions = {}
        for c in sim.describe()["clusters"]:
            with urllib.request.urlopen(f"{c['kube_url']}/version", timeout=10) as answer:
                versions[c["name"]] = json.loads(answer.read())["gitVersion"]
    assert took < 5, f"fifty clusters took {took:.1f}s to start"
    assert versions == {s.name: f"v{s.kubernetes_version}" for s in SCENARIOS["fleet50"]}
    assert len(versions) == FLEET_SIZE
    rings = {name.split("-")[1] for name in versions}
    assert rings == {"dev", "staging", "prod"}
    assert all(FLEET_TARGET in available_upgrades(sim.arm.catalogue, s.revision,
                                                   s.kubernetes_version)
               for s in SCENARIOS["fleet50"])
