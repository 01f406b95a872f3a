"""The revision catalogue is AKS's release calendar read on a simulated day: which revisions
had reached AKS, which were supported, their Kubernetes compatibility, patch versions and
native-sidecar default (istio-support-policy.md @ 103b196, Azure/AKS CHANGELOG @ 8d1c890)."""

from __future__ import annotations

from datetime import date

import pytest

from meshsim.catalogue import SEED_DAY, NativeSidecars, default_catalogue


def supported(day: date) -> list[str]:
    return [i.name for i in default_catalogue(day).ordered() if i.supported]


def test_seed_day_is_when_the_seed_scenarios_upgrade_story_held() -> None:
    catalogue = default_catalogue()
    assert catalogue.day == SEED_DAY
    assert supported(SEED_DAY) == ["asm-1-22", "asm-1-23", "asm-1-24"]
    assert catalogue.ordered()[-1].name == "asm-1-24"  # asm-1-25 reached AKS in May 2025
    legacy = catalogue.revisions["asm-1-21"]  # out of support since Oct 2024
    assert not legacy.supported and catalogue.compatible("asm-1-21", "1.29.9")
    assert catalogue.revisions["asm-1-22"].upgrades == ("asm-1-23", "asm-1-24")
    assert catalogue.compatible("asm-1-22", "1.30.6") and catalogue.compatible("asm-1-23", "1.31.4")


@pytest.mark.parametrize(("day", "expected"), [
    (date(2024, 9, 20), ["asm-1-21", "asm-1-22", "asm-1-23"]),
    (date(2025, 3, 16), ["asm-1-23", "asm-1-24"]),  # the release that deprecated asm-1-22
    (date(2026, 2, 8), ["asm-1-26", "asm-1-27", "asm-1-28"]),  # asm-1-25 deprecated
    (date(2026, 4, 28), ["asm-1-27", "asm-1-28", "asm-1-29"]),  # asm-1-26 deprecated
    (date(2026, 7, 17), ["asm-1-28", "asm-1-29", "asm-1-30"]),  # asm-1-30 available
])
def test_supported_revisions_match_the_aks_release_notes(day: date, expected: list[str]) -> None:
    assert supported(day) == expected


def test_kubernetes_compatibility_is_the_published_calendar() -> None:
    catalogue = default_catalogue(date(2026, 7, 17))
    ranges = {i.name: (i.kubernetes[0], i.kubernetes[-1]) for i in catalogue.ordered()}
    assert ranges["asm-1-21"] == ("1.26", "1.30") and ranges["asm-1-23"] == ("1.27", "1.32")
    assert ranges["asm-1-27"] == ("1.29", "1.35") and ranges["asm-1-28"] == ("1.30", "1.35")
    assert ranges["asm-1-30"] == ("1.32", "1.36")
    assert catalogue.revisions["asm-1-26"].lts_kubernetes[0] == "1.28"
    assert catalogue.revisions["asm-1-24"].lts_kubernetes == ()


def test_patch_versions_are_the_last_aks_shipped() -> None:
    catalogue = default_catalogue(date(2026, 7, 17))
    versions = {i.name: i.version for i in catalogue.ordered()}
    assert [versions[f"asm-1-{m}"] for m in range(23, 31)] == [
        "1.23.6", "1.24.6", "1.25.5", "1.26.4", "1.27.9", "1.28.9", "1.29.5", "1.30.2"]
    assert catalogue.revisions["asm-1-29"].proxy_image == \
        "mcr.microsoft.com/oss/istio/proxyv2:1.29.5-distroless"


def test_brownfield_1_33_cluster_can_go_from_asm_1_27_to_a_native_revision() -> None:
    catalogue = default_catalogue(date(2026, 4, 28))
    info = catalogue.revisions["asm-1-27"]
    assert info.supported and catalogue.compatible("asm-1-27", "1.33.2")
    assert info.upgrades == ("asm-1-28", "asm-1-29")
    assert all(catalogue.compatible(n, "1.33.2") for n in info.upgrades)
    assert not info.native_by_default("1.33.2", by_upgrade=True)
    assert not catalogue.revisions["asm-1-28"].native_by_default("1.33.2", by_upgrade=True)
    assert catalogue.revisions["asm-1-29"].native_by_default("1.33.2", by_upgrade=True)


def test_native_sidecar_defaults_per_revision() -> None:
    catalogue = default_catalogue(date(2026, 7, 17))
    policy = {i.name: i.native_sidecars for i in catalogue.ordered()}
    assert policy["asm-1-26"] is NativeSidecars.NEVER
    assert policy["asm-1-27"] is policy["asm-1-28"] is NativeSidecars.ON_INSTALL
    assert policy["asm-1-29"] is policy["asm-1-30"] is NativeSidecars.ALWAYS
    assert not catalogue.revisions["asm-1-30"].native_by_default("1.32.9", by_upgrade=False)


def test_bump_patch_keeps_everything_else() -> None:
    catalogue = default_catalogue(date(2026, 4, 28))
    bumped = catalogue.bump_patch("asm-1-28", "1.28.10")
    assert bumped.version == "1.28.10" and bumped.native_sidecars is NativeSidecars.ON_INSTALL
    assert bumped.upgrades == ("asm-1-29",) and catalogue.revisions["asm-1-28"] is bumped
