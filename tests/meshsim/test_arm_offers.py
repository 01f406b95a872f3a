"""Which upgrades `meshUpgradeProfiles` offers, as istio-upgrade.md (azure-aks-docs @ 61e1d558)
states the RP's rule: n+1 or n+2 from a supported revision, if supported and compatible with
the cluster's Kubernetes version; from an unsupported one only the lowest supported revision
compatible with it. A PUT to anything else is refused with the RP's 400. The catalogue is the
test's own, so the default calendar may move on without changing what is tested."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError

from meshsim.catalogue import Catalogue, RevisionInfo
from tests.meshsim.arm_env import NAME, RG, arm_env, arm_error

NOT_ALLOWED = "Requested change in revisions is not allowed. Reason: "


def minors(lo: int, hi: int) -> tuple[str, ...]:
    return tuple(f"1.{m}" for m in range(lo, hi + 1))


def calendar() -> Catalogue:
    """asm-1-20 and asm-1-21 out of support; each revision lists its n+1 and n+2."""
    rows = [("asm-1-20", 26, 29, False), ("asm-1-21", 26, 30, False),
            ("asm-1-22", 27, 30, True), ("asm-1-23", 28, 32, True), ("asm-1-24", 29, 33, True)]
    names = [r[0] for r in rows]
    catalogue = Catalogue({
        name: RevisionInfo(name, f"1.{name[-2:]}.1", minors(lo, hi),
                           tuple(names[i + 1:i + 3]), supported)
        for i, (name, lo, hi, supported) in enumerate(rows)
    })
    # AKS LTS clusters may run asm-1-24 on one minor more than the official calendar says.
    catalogue.revisions["asm-1-24"] = dataclasses.replace(
        catalogue.revisions["asm-1-24"], lts_kubernetes=minors(28, 33))
    return catalogue


def offered(tmp_path: Path, revision: str, kubernetes: str) -> list[str] | None:
    with arm_env(tmp_path, catalogue=calendar(), revisions=[revision],
                 kubernetes_version=kubernetes) as env:
        profile = env.client().managed_clusters.get_mesh_upgrade_profile(RG, NAME, "istio")
    assert profile.properties is not None and profile.properties.revision == revision
    return profile.properties.upgrades


@pytest.mark.parametrize(
    ("revision", "kubernetes", "upgrades"),
    [
        ("asm-1-22", "1.30.7", ["asm-1-23", "asm-1-24"]),  # supported: n+1 and n+2
        ("asm-1-22", "1.28.3", ["asm-1-23"]),  # n+2 needs Kubernetes 1.29
        ("asm-1-21", "1.29.2", ["asm-1-22"]),  # unsupported: the lowest supported only
        ("asm-1-20", "1.29.2", ["asm-1-22"]),  # n and n+1 unsupported: n+2, the lowest
        ("asm-1-21", "1.31.1", ["asm-1-23"]),  # asm-1-22 does not fit 1.31: the next one
        ("asm-1-20", "1.31.1", ["asm-1-23"]),  # even past its n+2
        ("asm-1-20", "1.26.9", None),  # no supported revision fits: upgrade the cluster first
    ],
)
def test_upgrade_profile_offers_what_the_rp_allows(
    tmp_path: Path, revision: str, kubernetes: str, upgrades: list[str] | None
) -> None:
    assert offered(tmp_path, revision, kubernetes) == upgrades


def test_from_an_unsupported_revision_only_the_lowest_supported_may_be_put(
        tmp_path: Path) -> None:
    with arm_env(tmp_path, catalogue=calendar(), revisions=["asm-1-21"],
                 kubernetes_version="1.29.2") as env:
        client = env.client()
        mc = client.managed_clusters.get(RG, NAME)
        mc.service_mesh_profile.istio.revisions = ["asm-1-21", "asm-1-23"]
        with pytest.raises(HttpResponseError) as skipped:
            client.managed_clusters.begin_create_or_update(RG, NAME, mc)
        mc.service_mesh_profile.istio.revisions = ["asm-1-21", "asm-1-22"]
        done = client.managed_clusters.begin_create_or_update(RG, NAME, mc).result()
    assert arm_error(skipped.value) == (400, "BadRequest", NOT_ALLOWED + (
        "Revision asm-1-23 is not a valid upgrade from asm-1-21. Allowed upgrades: asm-1-22."))
    assert done.service_mesh_profile.istio.revisions == ["asm-1-21", "asm-1-22"]
    assert env.revisions == [["asm-1-21", "asm-1-22"]]


def test_compatibility_lists_official_and_lts_minors(tmp_path: Path) -> None:
    with arm_env(tmp_path, catalogue=calendar(), revisions=["asm-1-24"],
                 kubernetes_version="1.30.7") as env:
        profile = env.client().managed_clusters.get_mesh_revision_profile("westeurope", "istio")
    assert profile.properties is not None
    lists = {r.revision: {c.name: c.versions for c in r.compatible_with or []}
             for r in profile.properties.mesh_revisions or []}
    assert lists["asm-1-24"] == {"KubernetesOfficial": list(minors(29, 33)),
                                 "AKSLongTermSupport": list(minors(28, 33))}
    assert lists["asm-1-23"]["AKSLongTermSupport"] == lists["asm-1-23"]["KubernetesOfficial"]
    assert "asm-1-21" not in lists  # out of support: not listed by get-revisions
