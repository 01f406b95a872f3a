"""The AKS Istio add-on's revision catalogue, shared by the simulated RP and cluster.

Figures follow the AKS support calendar (aks-arm.md §4): which Kubernetes minors each revision
is compatible with, its current patch version, and which revisions it may upgrade to (n+1 and
n+2). Scenarios may pass their own catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

PROXY_IMAGE = "mcr.microsoft.com/oss/istio/proxyv2:{version}-distroless"
PILOT_IMAGE = "mcr.microsoft.com/oss/istio/pilot:{version}-distroless"


@dataclass(frozen=True)
class RevisionInfo:
    name: str  # asm-1-22
    version: str  # current patch release, 1.22.5
    kubernetes: tuple[str, ...]  # compatible Kubernetes minors, "1.27".."1.30"
    upgrades: tuple[str, ...] = ()
    supported: bool = True

    @property
    def proxy_image(self) -> str:
        return PROXY_IMAGE.format(version=self.version)

    @property
    def pilot_image(self) -> str:
        return PILOT_IMAGE.format(version=self.version)


def revision_key(name: str) -> tuple[int, ...]:
    """Sort `asm-1-9` before `asm-1-10`."""
    return tuple(int(part) for part in name.removeprefix("asm-").split("-"))


def _minors(lo: int, hi: int) -> tuple[str, ...]:
    return tuple(f"1.{m}" for m in range(lo, hi + 1))


@dataclass
class Catalogue:
    revisions: dict[str, RevisionInfo] = field(default_factory=dict)

    def get(self, name: str) -> RevisionInfo | None:
        return self.revisions.get(name)

    def ordered(self) -> list[RevisionInfo]:
        return sorted(self.revisions.values(), key=lambda r: revision_key(r.name))

    def compatible(self, name: str, kubernetes_version: str) -> bool:
        info = self.revisions.get(name)
        minor = ".".join(kubernetes_version.split(".")[:2])
        return info is not None and minor in info.kubernetes

    def bump_patch(self, name: str, version: str) -> RevisionInfo:
        info = self.revisions[name]
        bumped = RevisionInfo(info.name, version, info.kubernetes, info.upgrades, info.supported)
        self.revisions[name] = bumped
        return bumped


_CALENDAR: Mapping[str, tuple[str, int, int, bool]] = {
    "asm-1-21": ("1.21.6", 26, 29, False),
    "asm-1-22": ("1.22.5", 27, 30, True),
    "asm-1-23": ("1.23.6", 27, 32, True),
    "asm-1-24": ("1.24.6", 28, 33, True),
    "asm-1-25": ("1.25.5", 29, 33, True),
    "asm-1-26": ("1.26.4", 29, 34, True),
}


def default_catalogue() -> Catalogue:
    names = sorted(_CALENDAR, key=revision_key)
    revisions = {}
    for i, name in enumerate(names):
        version, lo, hi, supported = _CALENDAR[name]
        upgrades = tuple(n for n in names[i + 1 : i + 3] if _CALENDAR[n][3])
        revisions[name] = RevisionInfo(name, version, _minors(lo, hi), upgrades, supported)
    return Catalogue(revisions)
