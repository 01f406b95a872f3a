"""The AKS Istio add-on's revision catalogue, shared by the simulated RP and cluster.

The figures are AKS's release calendar (azure-aks-docs `articles/aks/istio-support-policy.md`
@ 103b196, 2026-06-24): when each revision reached AKS, its end of life, the Kubernetes minors
it is compatible with; the patch each last received (Azure/AKS CHANGELOG.md @ 8d1c890); and
its native-sidecar default (`istio-native-sidecar.md` @ 1c27d13). What is released and
supported depends on the simulated day: `default_catalogue()` is AKS on SEED_DAY, the day
the seed scenarios live in; `default_catalogue(day)` AKS on any other day.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

PROXY_IMAGE = "mcr.microsoft.com/oss/istio/proxyv2:{version}-distroless"
PILOT_IMAGE = "mcr.microsoft.com/oss/istio/pilot:{version}-distroless"
# asm-1-24 reached AKS and asm-1-22 was still supported (deprecated in the 2025-03-16 release).
SEED_DAY = date(2025, 2, 20)
NATIVE_KUBERNETES = (1, 33)  # AKS enables native sidecars on Kubernetes 1.33+ only


class NativeSidecars(StrEnum):
    """AKS's native-sidecar default for a revision on Kubernetes 1.33+ (istio-native-sidecar)."""

    NEVER = "never"  # below asm-1-27
    ON_INSTALL = "on-install"  # transition releases: a fresh add-on install, not an upgrade
    ALWAYS = "always"  # install, mesh upgrade or cluster upgrade


@dataclass(frozen=True)
class RevisionInfo:
    name: str  # asm-1-22
    version: str  # current patch release, 1.22.5
    kubernetes: tuple[str, ...]  # compatible Kubernetes minors, "1.27".."1.30"
    upgrades: tuple[str, ...] = ()
    supported: bool = True
    lts_kubernetes: tuple[str, ...] = ()  # extra compatibility on AKS LTS clusters
    native_sidecars: NativeSidecars = NativeSidecars.NEVER

    @property
    def proxy_image(self) -> str:
        return PROXY_IMAGE.format(version=self.version)

    @property
    def pilot_image(self) -> str:
        return PILOT_IMAGE.format(version=self.version)

    def native_by_default(self, kubernetes_version: str, by_upgrade: bool) -> bool:
        """Whether AKS renders this revision's istiod with ENABLE_NATIVE_SIDECARS=true."""
        if kubernetes_minor(kubernetes_version) < NATIVE_KUBERNETES:
            return False
        if self.native_sidecars is NativeSidecars.ON_INSTALL:
            return not by_upgrade
        return self.native_sidecars is NativeSidecars.ALWAYS


def revision_key(name: str) -> tuple[int, ...]:
    """Sort `asm-1-9` before `asm-1-10`."""
    return tuple(int(part) for part in name.removeprefix("asm-").split("-"))


def kubernetes_minor(version: str) -> tuple[int, int]:
    """`1.33.2` (or `v1.33.2`) -> (1, 33)."""
    major, minor = version.removeprefix("v").split(".")[:2]
    return int(major), int(minor)


def _minors(lo: int, hi: int) -> tuple[str, ...]:
    return tuple(f"1.{m}" for m in range(lo, hi + 1))


@dataclass
class Catalogue:
    revisions: dict[str, RevisionInfo] = field(default_factory=dict)
    day: date | None = None  # the simulated day the catalogue describes, if it came from one

    def get(self, name: str) -> RevisionInfo | None:
        return self.revisions.get(name)

    def ordered(self) -> list[RevisionInfo]:
        return sorted(self.revisions.values(), key=lambda r: revision_key(r.name))

    def compatible(self, name: str, kubernetes_version: str) -> bool:
        info = self.revisions.get(name)
        minor = ".".join(kubernetes_version.split(".")[:2])
        return info is not None and minor in info.kubernetes

    def bump_patch(self, name: str, version: str) -> RevisionInfo:
        bumped = dataclasses.replace(self.revisions[name], version=version)
        self.revisions[name] = bumped
        return bumped


@dataclass(frozen=True)
class _Row:
    """One line of the calendar: months are (year, month)."""

    version: str
    aks_release: tuple[int, int]
    end_of_life: tuple[int, int]
    kubernetes: tuple[int, int]  # lowest and highest compatible minor
    lts: tuple[int, int] | None = None
    native: NativeSidecars = NativeSidecars.NEVER


_ON_INSTALL, _ALWAYS = NativeSidecars.ON_INSTALL, NativeSidecars.ALWAYS
# asm-1-22 stays on 1.22.5 (seen on live clusters; AKS's last asm-1-22 patch was 1.22.7) so the
# seed's patch story (1.22.5 -> 1.22.6) still moves forward.
_CALENDAR: Mapping[str, _Row] = {
    "asm-1-17": _Row("1.17.8", (2023, 4), (2024, 1), (23, 28)),
    "asm-1-18": _Row("1.18.7", (2023, 11), (2024, 2), (24, 28)),
    "asm-1-19": _Row("1.19.10", (2024, 1), (2024, 6), (25, 28)),
    "asm-1-20": _Row("1.20.8", (2024, 2), (2024, 9), (25, 29)),
    "asm-1-21": _Row("1.21.5", (2024, 4), (2024, 10), (26, 30)),
    "asm-1-22": _Row("1.22.5", (2024, 7), (2025, 3), (27, 30)),
    "asm-1-23": _Row("1.23.6", (2024, 9), (2025, 6), (27, 32)),
    "asm-1-24": _Row("1.24.6", (2025, 2), (2025, 9), (28, 33)),
    "asm-1-25": _Row("1.25.5", (2025, 5), (2026, 1), (29, 33), (28, 33)),
    "asm-1-26": _Row("1.26.4", (2025, 7), (2026, 4), (29, 34), (28, 34)),
    "asm-1-27": _Row("1.27.9", (2025, 9), (2026, 5), (29, 35), (29, 35), _ON_INSTALL),
    "asm-1-28": _Row("1.28.9", (2026, 1), (2026, 8), (30, 35), (30, 35), _ON_INSTALL),
    "asm-1-29": _Row("1.29.5", (2026, 4), (2026, 9), (31, 36), (31, 36), _ALWAYS),
    "asm-1-30": _Row("1.30.2", (2026, 7), (2026, 12), (32, 36), (32, 36), _ALWAYS),
}


def _month(day: date) -> tuple[int, int]:
    return day.year, day.month


def default_catalogue(day: date = SEED_DAY) -> Catalogue:
    """AKS's catalogue on `day`: the revisions that had reached AKS, supported until their
    end-of-life month begins, each offering the next two supported ones as upgrades."""
    now = _month(day)
    names = sorted((n for n, r in _CALENDAR.items() if r.aks_release <= now), key=revision_key)
    supported = {n for n in names if now < _CALENDAR[n].end_of_life}
    revisions = {}
    for i, name in enumerate(names):
        row = _CALENDAR[name]
        upgrades = tuple(n for n in names[i + 1 : i + 3] if n in supported)
        lts = _minors(*row.lts) if row.lts else ()
        revisions[name] = RevisionInfo(name, row.version, _minors(*row.kubernetes), upgrades,
                                       name in supported, lts, row.native)
    return Catalogue(revisions, day)
