"""What the bot says about fleets: a fleet's plan, ring by ring, each cluster with what the
fleet's target means for it."""

from __future__ import annotations

from types import MappingProxyType

from bot.fleet.plan import ClusterPlan, Fitness, FleetPlan, OnUnfit
from bot.slack.blocks import Report, ReportSection

FITNESS_EMOJI = MappingProxyType({
    Fitness.READY: ":arrow_up:", Fitness.AT_TARGET: ":white_check_mark:",
    Fitness.NEEDS_KUBERNETES: ":no_entry:", Fitness.NOT_OFFERED: ":no_entry:",
    Fitness.BUSY: ":hourglass_flowing_sand:", Fitness.UNREADABLE: ":warning:",
})


def fleet_plan_report(plan: FleetPlan) -> Report:
    going = sum(1 for c in plan.clusters if c.goes)
    there = sum(1 for c in plan.clusters if c.fitness is Fitness.AT_TARGET)
    summary = (f"{going} of {len(plan.clusters)} clusters would upgrade to *{plan.target}*, "
               f"{there} already run it, {len(plan.unfit)} cannot take it now.")
    rings = dict.fromkeys(c.ring for c in plan.clusters)
    sections = [ReportSection(f"Ring {i}: {ring}", tuple(_line(c) for c in plan.ring(ring)))
                for i, ring in enumerate(rings, 1)]
    sections.append(ReportSection("What happens to the clusters that cannot", (_unfit(plan),)))
    return Report(f"Fleet plan · {plan.fleet} → {plan.target}", summary, tuple(sections))


def _line(c: ClusterPlan) -> str:
    return f"{FITNESS_EMOJI[c.fitness]} `{c.cluster}`: {c.reason}"


def _unfit(plan: FleetPlan) -> str:
    if not plan.unfit:
        return "Every cluster can take the target or already runs it."
    names = ", ".join(f"`{c.cluster}`" for c in plan.unfit)
    if plan.on_unfit is OnUnfit.HOLD:
        return (f"The fleet is set to hold: it waits until {names} can take {plan.target}. "
                "Fix them, then plan again.")
    return (f"They are shown and skipped; the other clusters go on ({names}). Set the fleet "
            "to hold to wait for them instead.")
