"""What a run does to each revision tag, decided before it starts and named in the plan.

A tag serves every namespace labelled `istio.io/rev=<tag>` (and, for a `default` tag made with
istioctl, every `istio-injection=enabled` namespace), so moving or removing one changes what
those namespaces' new pods get. The bot therefore touches a tag only as the approved plan says,
by name:

- the stable tag points at the current revision at start and follows the data plane;
- every other tag on the current revision follows the data plane too, since one left on a
  removed revision makes pod creation fail in the namespaces it serves;
- the canary tag points at the target at start, unless it already serves namespaces outside
  the bot's scope: those would change with it, so it stays and follows the data plane instead.
  In-scope namespaces on a canary tag made earlier are relabelled to the stable tag first, so
  that their injection does not change. It is removed at the end unless namespaces the bot may
  not touch still use it: then it is kept, and the run names them and the command to finish.

Pure: observations in, decisions out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.upgrade.addon import ISTIO_NAMESPACE
from bot.upgrade.cluster_facts import NamespaceInjection, RevisionTag


@dataclass(frozen=True)
class TagPlan:
    tag: str
    revision: str | None  # where it points before the run; None: the run creates it
    namespaces: tuple[str, ...]  # the namespaces it serves that are in the bot's scope
    outside: tuple[str, ...]  # the namespaces it serves that the bot may not touch
    start: str | None = None  # the revision it is set to at start, if the run sets it then
    follows: bool = False  # moves with the data plane, and back on a rollback
    canary: bool = False  # the run's canary tag: removed at the end when nothing uses it

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "revision": self.revision, "namespaces": list(self.namespaces),
                "outside": list(self.outside), "start": self.start, "follows": self.follows,
                "canary": self.canary}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TagPlan:
        return cls(data["tag"], data.get("revision"), tuple(data.get("namespaces") or ()),
                   tuple(data.get("outside") or ()), data.get("start"),
                   bool(data.get("follows")), bool(data.get("canary")))

    @property
    def relabel_first(self) -> tuple[str, ...]:
        """In-scope namespaces to relabel to the stable tag before this canary tag moves."""
        moves = self.canary and self.start is not None and self.revision is not None
        return self.namespaces if moves and self.revision != self.start else ()

    def describe(self, current: str, target: str, stable: str) -> str:
        """One line of the plan, in words."""
        serves = _serving(self.namespaces, self.outside)
        if self.revision is None:
            made = f"`{self.tag}` is created, pointing at {self.start}"
        else:
            made = f"`{self.tag}` (now → {self.revision}{serves})"
        steps = []
        if self.relabel_first:
            steps.append(f"first relabel {', '.join(self.relabel_first)} to `{stable}`")
        if self.start is not None and self.revision is not None and self.start != self.revision:
            steps.append(f"moves to {self.start} at start")
        if self.canary and self.outside and self.start is None:
            steps.append("stays at start, because namespaces outside the bot's scope use it")
        if self.follows:
            steps.append(f"follows the data plane to {target} (back to {current} on a rollback)")
        if self.canary:
            steps.append("is removed at the end unless namespaces outside the bot's scope still "
                         "use it (then it is kept and named)")
        if not steps:
            steps.append("is left as it is")
        return f"{made}: " + "; ".join(steps)


def _serving(inside: tuple[str, ...], outside: tuple[str, ...]) -> str:
    if not inside and not outside:
        return ", serves no namespace"
    names = [*inside, *(f"{ns} (outside scope)" for ns in outside)]
    return ", serves " + ", ".join(names)


@dataclass(frozen=True)
class TagPolicy:
    """The cluster's tag settings the rules need (from `Settings`)."""

    stable: str
    canary: str
    use_tags: bool
    in_scope: Callable[[str], bool]


def plan_tags(policy: TagPolicy, tags: Iterable[RevisionTag],
              injections: Iterable[NamespaceInjection], current: str,
              target: str) -> tuple[TagPlan, ...]:
    """Every tag the run may touch and what it does to it, sorted by name."""
    live = {t.tag: t.revision for t in tags if t.tag}
    users: dict[str, list[str]] = {}
    for ns in injections:
        if ns.tag is not None and ns.injected:
            users.setdefault(ns.tag, []).append(ns.name)
    names = set(live) | ({policy.stable, policy.canary} if policy.use_tags else set())
    out = []
    for tag in sorted(names):
        served = sorted(users.get(tag, ()))
        inside = tuple(ns for ns in served if policy.in_scope(ns))
        outside = tuple(ns for ns in served if not policy.in_scope(ns))
        base = TagPlan(tag, live.get(tag), inside, outside)
        chosen = _decide(policy, base, current, target)
        if chosen is not None:
            out.append(chosen)
    return tuple(out)


def _decide(policy: TagPolicy, tag: TagPlan, current: str, target: str) -> TagPlan | None:
    if policy.use_tags and tag.tag == policy.canary:
        keep = bool(tag.outside)  # moving it would change namespaces the bot may not touch
        return TagPlan(tag.tag, tag.revision, tag.namespaces, tag.outside,
                       None if keep else target, follows=keep and tag.revision == current,
                       canary=True)
    if policy.use_tags and tag.tag == policy.stable:
        start = None if tag.revision == current else current
        return TagPlan(tag.tag, tag.revision, tag.namespaces, tag.outside, start, follows=True)
    if tag.revision == current:
        return TagPlan(tag.tag, tag.revision, tag.namespaces, tag.outside, follows=True)
    return None  # on another revision: the run does not touch it


def following(plans: Iterable[TagPlan]) -> tuple[str, ...]:
    return tuple(p.tag for p in plans if p.follows)


def needed_changes(plans: Iterable[TagPlan]) -> tuple[tuple[str, str], ...]:
    """(tag, verb) on the tags' webhook configurations that the planned run may make: the
    bot's Role may name only some tags, and a run must not find that out half-way."""
    out = []
    for p in plans:
        if p.revision is None:
            out.append((p.tag, "create"))
        moves = p.follows or (p.start is not None and p.start != p.revision)
        if moves or p.canary:  # a canary may go back to the old revision on a rollback
            out.append((p.tag, "update"))
        if p.canary:
            out.append((p.tag, "delete"))
    return tuple(out)


@dataclass(frozen=True)
class KeptTag:
    """A canary tag the run could not remove: namespaces it may not touch still use it."""

    tag: str
    revision: str
    namespaces: tuple[str, ...]

    @property
    def command(self) -> str:
        """What finishes the job by hand (what `istioctl tag remove` warns about)."""
        labels = " && ".join(f"kubectl label namespace {ns} istio.io/rev=<tag or revision> "
                             "--overwrite" for ns in self.namespaces)
        return (f"{labels} && istioctl tag remove {self.tag} "
                f"--istioNamespace {ISTIO_NAMESPACE}")

    def text(self) -> str:
        return (f"Revision tag `{self.tag}` was kept on {self.revision}: namespaces outside "
                f"the bot's scope still use it ({', '.join(self.namespaces)}). To finish: "
                f"`{self.command}`")
