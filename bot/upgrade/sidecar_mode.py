"""Where a pod runs `istio-proxy`: a classic container, or a native sidecar (an init container
with `restartPolicy: Always`), and when a restart switches it.

AKS's rule (the AKS article "native sidecar mode for the Istio add-on", as revised in January
2026): Kubernetes below 1.33 gets classic sidecars; from 1.33, revisions below asm-1-27 stay
classic, asm-1-27 and asm-1-28 are transition releases, native on a fresh install only (an
upgrade to them keeps classic), and asm-1-29 and later are native after an upgrade too. A pod
changes mode only when it restarts, so a canary (or a patch restart) can switch it: the plan
says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from bot.upgrade.mesh_facts import minor_of
from bot.upgrade.versions import InvalidRevision, Revision, as_revision

NATIVE_KUBERNETES = (1, 33)
NATIVE_ON_INSTALL = Revision(1, 27)  # native only when the cluster was installed on it
NATIVE_ALWAYS = Revision(1, 29)


class SidecarMode(StrEnum):
    CLASSIC = "classic"  # istio-proxy in spec.containers
    NATIVE = "native"  # istio-proxy in spec.initContainers, restartPolicy: Always


_AS = {SidecarMode.CLASSIC: "a classic container",
       SidecarMode.NATIVE: "a native sidecar (an init container)"}
# What the switch means for a Job's pod, the one workload whose life the mode changes.
_EFFECT = {SidecarMode.NATIVE: "a Job's pod then ends when its app exits",
           SidecarMode.CLASSIC: "a Job's pod then keeps running after its app exits unless the "
                                "job calls /quitquitquit"}


def mode_after_restart(kubernetes_version: str, revision: str, *, upgraded: bool
                       ) -> SidecarMode | None:
    """The mode a pod restarted onto `revision` gets; `upgraded`: the revision was reached by an
    upgrade (a canary), not installed fresh. None when it cannot be known: the Kubernetes
    version or the revision unreadable, or a transition release whose install is not known."""
    kubernetes = _kubernetes_minor(kubernetes_version)
    try:
        rev = as_revision(revision)
    except InvalidRevision:
        return None
    if kubernetes is None:
        return None
    if kubernetes < NATIVE_KUBERNETES or rev < NATIVE_ON_INSTALL:
        return SidecarMode.CLASSIC
    if rev >= NATIVE_ALWAYS:
        return SidecarMode.NATIVE
    return SidecarMode.CLASSIC if upgraded else None


def switch_note(modes: Mapping[str, Mapping[str, int]], kubernetes_version: str, source: str,
                target: str) -> str | None:
    """A note when pods restarted from `source` onto `target` get another mode than the pods
    on `source` run now (`modes`: revision -> mode -> pods, from the census)."""
    want = mode_after_restart(kubernetes_version, target, upgraded=source != target)
    if want is None:
        return None
    other = {SidecarMode(m): n for m, n in modes.get(source, {}).items() if m != want and n}
    if not other:
        return None
    pods = sum(other.values())
    was = next(iter(other))
    who = f"{pods} pods on {source} run" if pods != 1 else f"1 pod on {source} runs"
    return (f"pods restarted onto {target} get istio-proxy as {_AS[want]}; {who} it as "
            f"{_AS[was]} ({_EFFECT[want]})")


def _kubernetes_minor(version: str) -> tuple[int, int] | None:
    parts = minor_of(version.strip().removeprefix("v")).split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None
