"""A fleet's plan: what the target means for each cluster, and when the fleet holds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config.settings import BotConfig
from bot.fleet.plan import ClusterFacts, Fitness, OnUnfit, Ring, fit, plan_fleet
from bot.slack.command_text import Command, ParseError, Verb, parse

SUPPORTS = {"asm-1-23": ("1.29", "1.30", "1.31"), "asm-1-24": ("1.30", "1.31", "1.32")}


def facts(name: str, revisions: tuple[str, ...], kubernetes: str,
          offered: tuple[str, ...] = ("asm-1-23", "asm-1-24"), error: str = "") -> ClusterFacts:
    return ClusterFacts(name, revisions, kubernetes, offered, SUPPORTS, error)


def test_each_cluster_gets_the_target_or_the_reason_it_cannot() -> None:
    assert fit(facts("a", ("asm-1-22",), "1.30.6"), "dev", "asm-1-24").fitness is Fitness.READY
    there = fit(facts("b", ("asm-1-24",), "1.31.4", ()), "dev", "asm-1-24")
    assert there.fitness is Fitness.AT_TARGET and there.reason == "already on asm-1-24"
    old = fit(facts("c", ("asm-1-22",), "1.29.9"), "prod", "asm-1-24")
    assert old.fitness is Fitness.NEEDS_KUBERNETES
    assert old.reason == ("asm-1-24 supports Kubernetes 1.30 to 1.32; the cluster runs 1.29.9: "
                          "upgrade Kubernetes first (az aks upgrade)")
    far = fit(facts("d", ("asm-1-21",), "1.30.6", ("asm-1-22",)), "prod", "asm-1-24")
    assert far.fitness is Fitness.NOT_OFFERED and "AKS offers asm-1-22" in far.reason
    busy = fit(facts("e", ("asm-1-22", "asm-1-23"), "1.30.6", ()), "prod", "asm-1-24")
    assert busy.fitness is Fitness.BUSY
    down = fit(facts("f", (), "", error="HTTP 503"), "prod", "asm-1-24")
    assert down.fitness is Fitness.UNREADABLE and "503" in down.reason


def test_unfit_clusters_are_skipped_or_hold_the_fleet_as_configured() -> None:
    rings = (Ring("dev", ("a",)), Ring("prod", ("c", "a2")))
    known = {"a": facts("a", ("asm-1-22",), "1.30.6"), "a2": facts("a2", ("asm-1-23",), "1.31.1"),
             "c": facts("c", ("asm-1-22",), "1.29.9")}
    skip = plan_fleet("global", rings, known, "asm-1-24", OnUnfit.SKIP)
    assert [c.cluster for c in skip.clusters] == ["a", "c", "a2"]  # ring by ring
    assert [c.cluster for c in skip.unfit] == ["c"] and not skip.holds
    assert plan_fleet("global", rings, known, "asm-1-24", OnUnfit.HOLD).holds


def _config(**fleet: object) -> dict[str, object]:
    cluster = {"subscription_id": "00000000-0000-0000-0000-000000000001",
               "resource_group": "rg", "channel": "C0OPS",
               "approvals": {"default": {"groups": ["S0APPR"]}}}
    return {"clusters": [{**cluster, "name": n, "cluster_name": n} for n in ("dev-1", "prod-1")],
            "fleets": [{"name": "global", "channel": "C0FLEET",
                        "rings": [{"name": "dev", "clusters": ["dev-1"]},
                                  {"name": "prod", "clusters": ["prod-1"]}],
                        "promotion": {"groups": ["S0LEADS"]}, **fleet}]}


def test_a_fleet_names_configured_clusters_once_and_lends_them_its_windows() -> None:
    windows = {"timezone": "Europe/Berlin",
               "weekly": [{"days": ["tue"], "start": "09:00", "duration": "4h"}]}
    config = BotConfig.model_validate(_config(change_windows=windows))
    assert config.fleet("global").clusters == ("dev-1", "prod-1")
    cw = config.cluster("prod-1").change_windows
    assert cw is not None and cw.timezone == "Europe/Berlin"
    with pytest.raises(ValidationError, match="not configured under clusters"):
        BotConfig.model_validate(_config(rings=[{"name": "dev", "clusters": ["nope"]}]))
    with pytest.raises(ValidationError, match="one ring of a fleet"):
        BotConfig.model_validate(_config(rings=[{"name": "a", "clusters": ["dev-1"]},
                                                {"name": "b", "clusters": ["dev-1"]}]))


def test_fleet_commands_parse_and_say_what_is_wrong() -> None:
    assert parse("fleet plan global --to asm-1-24", []) == \
        Command(Verb.FLEET, to_rev="asm-1-24", fleet="global", fleet_action="plan")
    assert parse("fleet start global", []) == \
        Command(Verb.FLEET, fleet="global", fleet_action="start")
    assert parse("fleet pause global db migration tonight", []) == \
        Command(Verb.FLEET, fleet="global", fleet_action="pause",
                reason="db migration tonight")
    typo = parse("fleet strat global", [])
    assert isinstance(typo, ParseError) and "Did you mean `fleet start`?" in typo.problem
    extra = parse("fleet status global now", [])
    assert isinstance(extra, ParseError) and "Unexpected `now`" in extra.problem
    moved = parse("fleet resume global --to asm-1-24", [])
    assert isinstance(moved, ParseError) and "`--to` goes with" in moved.problem
    assert isinstance(parse("fleet plan", []), ParseError)
    bad = parse("fleet plan global --to 1.24", [])
    assert isinstance(bad, ParseError) and "is not a revision" in bad.problem
