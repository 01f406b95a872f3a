"""What a run does to each revision tag: decided at plan time, by name, from the tags and the
namespaces that use them (a canary tag left from an earlier upgrade, tags serving namespaces
outside the bot's scope, a `default` tag)."""

from __future__ import annotations

from bot.upgrade.cluster_facts import NamespaceInjection, RevisionTag
from bot.upgrade.tag_plan import KeptTag, TagPlan, TagPolicy, following, plan_tags

OLD, NEW = "asm-1-27", "asm-1-28"
OUTSIDE = frozenset({"partner", "gatekeeper-system"})
POLICY = TagPolicy("prod-stable", "prod-canary", True, lambda ns: ns not in OUTSIDE)


def on_tag(name: str, tag: str, revision: str = OLD,
           injection: str | None = None) -> NamespaceInjection:
    label = None if injection else tag
    return NamespaceInjection(name, label, revision, tag, injection)


def by_name(plans: tuple[TagPlan, ...]) -> dict[str, TagPlan]:
    return {p.tag: p for p in plans}


def test_a_clean_cluster_gets_both_tags_made_and_only_the_stable_one_follows() -> None:
    plans = by_name(plan_tags(POLICY, (RevisionTag("", OLD, ()),), (), OLD, NEW))
    assert plans["prod-stable"] == TagPlan("prod-stable", None, (), (), OLD, follows=True)
    assert plans["prod-canary"] == TagPlan("prod-canary", None, (), (), NEW, canary=True)
    assert following(tuple(plans.values())) == ("prod-stable",)


def test_an_earlier_canary_tag_in_scope_is_relabelled_away_before_it_moves() -> None:
    tags = (RevisionTag("prod-canary", OLD, ("orders",)), RevisionTag("prod-stable", OLD, ()))
    plans = by_name(plan_tags(POLICY, tags, (on_tag("orders", "prod-canary"),), OLD, NEW))
    canary = plans["prod-canary"]
    assert canary.start == NEW and not canary.follows and canary.relabel_first == ("orders",)
    line = canary.describe(OLD, NEW, "prod-stable")
    assert "serves orders" in line and "first relabel orders to `prod-stable`" in line
    assert "moves to asm-1-28 at start" in line


def test_a_canary_tag_used_outside_scope_stays_at_start_and_follows_the_data_plane() -> None:
    tags = (RevisionTag("prod-canary", OLD, ("orders", "partner")),)
    users = (on_tag("orders", "prod-canary"), on_tag("partner", "prod-canary"))
    canary = by_name(plan_tags(POLICY, tags, users, OLD, NEW))["prod-canary"]
    assert canary.start is None and canary.follows and canary.relabel_first == ()
    assert canary.outside == ("partner",) and canary.namespaces == ("orders",)
    line = canary.describe(OLD, NEW, "prod-stable")
    assert "partner (outside scope)" in line and "stays at start" in line


def test_a_default_tag_follows_by_name_and_tags_on_other_revisions_are_untouched() -> None:
    tags = (RevisionTag("default", OLD, ()), RevisionTag("team-x", "asm-1-26", ("x",)))
    users = (on_tag("legacy", "default", injection="enabled"),)
    plans = by_name(plan_tags(POLICY, tags, users, OLD, NEW))
    assert plans["default"].follows and plans["default"].namespaces == ("legacy",)
    assert "team-x" not in plans


def test_without_tags_only_existing_tags_on_the_current_revision_follow() -> None:
    plain = TagPolicy("prod-stable", "prod-canary", False, lambda ns: True)
    tags = (RevisionTag("prod-canary", OLD, ("a",)), RevisionTag("prod-stable", NEW, ()))
    plans = plan_tags(plain, tags, (on_tag("a", "prod-canary"),), OLD, NEW)
    assert [(p.tag, p.follows, p.canary) for p in plans] == [("prod-canary", True, False)]


def test_a_kept_tag_names_its_namespaces_and_the_commands_that_finish_the_job() -> None:
    kept = KeptTag("prod-canary", NEW, ("partner",))
    assert "partner" in kept.text() and "istioctl tag remove prod-canary" in kept.command
    assert kept.command.startswith("kubectl label namespace partner istio.io/rev=")


def test_tag_plans_round_trip_through_json() -> None:
    plan = TagPlan("prod-canary", OLD, ("a",), ("b",), None, True, True)
    assert TagPlan.from_json(plan.to_json()) == plan
