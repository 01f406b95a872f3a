"""Block Kit output: the buttons the phase allows, confirm dialogs, Slack's limits, reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.slack.blocks import (
    TEXT_BUDGET,
    Report,
    ReportSection,
    StepStatus,
    StepView,
    as_file,
    clip,
    fits_in_blocks,
    render_help,
    render_report,
    render_step,
    to_dicts,
)
from bot.slack.buttons import ACTION_IDS, action_for_id, decode_value
from bot.slack.card import (
    ApprovalView,
    CardView,
    PendingApproval,
    PlaneStatus,
    card_fallback_text,
    progress_bar,
    render_card,
)
from bot.slack.command_text import Verb
from bot.slack.reports import (
    CheckView,
    HpaSide,
    HpaView,
    PlanView,
    SidecarRow,
    SidecarsView,
    TagsView,
    TagView,
    VersionsView,
    WorkloadProblem,
    check_report,
    history_report,
    plan_report,
    sidecars_report,
    tags_report,
    versions_report,
)
from bot.upgrade.phases import Action, Phase, RunKind, allowed_actions
from meshsim.slack.blockkit import validate

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# Slack shows each reader the time in their zone; the UTC text is its fallback.
AT_9 = f"<!date^{int(T0.timestamp())}^{{date_short_pretty}} at {{time}}|2026-03-01 09:00 UTC>"
AT_13 = (f"<!date^{int(T0.timestamp()) + 4 * 3600}^{{date_short_pretty}} at {{time}}"
         "|2026-03-01 13:00 UTC>")
OLD, NEW = "asm-1-22", "asm-1-23"


def valid(blocks: list[Block]) -> list[dict[str, Any]]:
    """The JSON Slack would get, after asserting that Slack (the simulator) accepts it."""
    payload = to_dicts(blocks)
    assert validate(payload) == []
    assert len(payload) <= 50
    assert _text_size(payload) <= TEXT_BUDGET
    return payload


def _text_size(node: Any) -> int:
    if isinstance(node, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else _text_size(v)
                   for k, v in node.items())
    return sum(_text_size(v) for v in node) if isinstance(node, list) else 0


def buttons(payload: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in payload if b["type"] == "actions" for e in b["elements"]}


def all_text(payload: list[dict[str, Any]]) -> str:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                out.append(v) if k == "text" and isinstance(v, str) else walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(payload)
    return "\n".join(out)


def card(phase: Phase, kind: RunKind = RunKind.MINOR, **extra: Any) -> CardView:
    return CardView(run_id=42, version=7, cluster="aks-prod", from_rev=OLD, to_rev=NEW,
                    phase=phase, kind=kind, requested_by="U0ALICE", **extra)


@pytest.mark.parametrize("kind", list(RunKind))
@pytest.mark.parametrize("phase", list(Phase))
def test_the_card_has_exactly_the_buttons_the_phase_allows(phase: Phase, kind: RunKind) -> None:
    shown = buttons(valid(render_card(card(phase, kind))))
    assert {action_for_id(a) for a in shown} == allowed_actions(phase, kind)
    for aid, button in shown.items():
        value = decode_value(button["value"], aid)
        assert (value.run_id, value.version) == (42, 7)


def test_complete_and_rollback_ask_for_confirmation_and_look_their_part() -> None:
    shown = buttons(valid(render_card(card(Phase.AWAITING_DECISION))))
    complete, rollback = shown[ACTION_IDS[Action.COMPLETE]], shown[ACTION_IDS[Action.ROLLBACK]]
    assert complete["style"] == "primary" and "asm-1-22" in complete["confirm"]["text"]["text"]
    assert rollback["style"] == "danger" and rollback["confirm"]["style"] == "danger"
    assert "confirm" not in shown[ACTION_IDS[Action.RESTART]]
    start = buttons(valid(render_card(card(Phase.PLANNED))))[ACTION_IDS[Action.START]]
    assert start["style"] == "primary"


def test_a_paused_rolling_card_shows_why_progress_and_resume() -> None:
    view = card(Phase.ROLLING, paused_reason="Rollout of bookinfo/reviews is stuck",
                paused_hint="Look at its pods, then resume.", progress=(3, 10))
    payload = valid(render_card(view))
    text = all_text(payload)
    assert "*Paused:* Rollout of bookinfo/reviews is stuck" in text
    assert progress_bar(3, 10) in text and "3/10 workloads (30%)" in text
    assert buttons(payload)[ACTION_IDS[Action.ROLL]]["text"]["text"] == "Resume roll-out"
    assert "Paused: Rollout of bookinfo/reviews is stuck" in card_fallback_text(view)


def test_progress_is_shown_only_while_rolling() -> None:
    text = all_text(valid(render_card(card(Phase.VERIFYING, progress=(10, 10)))))
    assert "workloads (" not in text


def test_progress_bar_survives_odd_numbers() -> None:
    assert "0/0 workloads (0%)" in progress_bar(0, 0)
    assert "12/10 workloads (100%)" in progress_bar(12, 10)
    assert "░" * 20 in progress_bar(-3, 10)


def test_the_card_shows_control_planes_census_and_approvals() -> None:
    view = card(Phase.AWAITING_DECISION,
                planes=(PlaneStatus(OLD, 2, 2, 2, 2), PlaneStatus(NEW, 1, 2, 2, 2)),
                census_by_revision={OLD: 3, NEW: 120, "": 4},
                census_by_version={"1.22.3": 3, "1.23.1": 120},
                approvals=(ApprovalView(Action.START, "U0BOB", T0),),
                pending=(PendingApproval(Action.COMPLETE, 1, 2, T0 + timedelta(hours=4)),))
    payload = valid(render_card(view))
    text = all_text(payload)
    assert "istiod 1/2 ready" in text and "gateways 2/2 ready" in text
    assert "asm-1-23: 120 · no sidecar: 4 · asm-1-22: 3" in text
    assert f"start by <@U0BOB> {AT_9}" in text
    assert f"complete: 1 of 2 approvals, expires {AT_13}" in text
    assert buttons(payload)[ACTION_IDS[Action.COMPLETE]]["text"]["text"] == "Complete (1/2)"


def test_a_finished_card_names_what_is_left_for_people() -> None:
    kept = ("Revision tag `prod-canary` was kept on asm-1-23: namespaces outside the bot's "
            "scope still use it (partner). To finish: `istioctl tag remove prod-canary`",)
    text = all_text(valid(render_card(card(Phase.COMPLETED, left_for_people=kept))))
    assert "*Left for you:*" in text and "(partner)" in text
    assert "Left for you" not in all_text(valid(render_card(card(Phase.COMPLETED))))


def test_a_card_with_huge_data_stays_within_slack_limits() -> None:
    view = CardView(
        run_id=10**9, version=10**6, cluster="c" * 400, from_rev=OLD, to_rev=NEW,
        phase=Phase.ROLLING, requested_by="U0ALICE", paused_reason="x" * 5000,
        paused_hint="<@U1> " * 1000, progress=(1999, 2000),
        planes=tuple(PlaneStatus(f"asm-1-{i}", 1, 2, 0, 9) for i in range(30)),
        census_by_revision={f"asm-1-{i}": i for i in range(2000)},
        census_by_version={f"1.{i}.0": i for i in range(2000)},
        approvals=tuple(ApprovalView(Action.START, f"U{i}", T0) for i in range(100)),
        pending=tuple(PendingApproval(Action.ROLLBACK, 0, 3) for _ in range(10)))
    payload = valid(render_card(view))
    assert payload[0]["type"] == "header" and len(payload[0]["text"]["text"]) <= 150
    assert payload[-1]["type"] == "actions"
    assert len(card_fallback_text(view)) <= 300


def test_clip_keeps_slack_entities_and_code_blocks_whole() -> None:
    assert clip("abc", 10) == "abc"
    cut = clip("hello <@U0123456789> there", 12)
    assert cut.endswith("…") and "<@U" not in cut and len(cut) <= 12
    fenced = clip("```" + "x" * 100 + "```", 50)
    assert fenced.count("```") == 2 and len(fenced) <= 50


def test_check_puts_sides_next_to_each_other_and_points_out_differences() -> None:
    view = CheckView(
        cluster="aks-prod", at=T0, from_rev=OLD, to_rev=NEW, workloads=10, healthy=9,
        problems=(WorkloadProblem("shop/deployment/cart", "crash-looping: istio-proxy"),),
        census_by_revision={NEW: 20, OLD: 2}, stragglers=("shop/deployment/legacy",),
        planes=(PlaneStatus(OLD, 2, 2, 3, 3), PlaneStatus(NEW, 2, 2, 2, 2)),
        hpas=(HpaView("istiod", HpaSide(2, 5, ("cpu 80%",)), HpaSide(2, 3, ("cpu 80%",))),
              HpaView("aks-istio-ingressgateway-external", HpaSide(2, 5), HpaSide(2, 5))))
    payload = valid(render_report(check_report(view)))
    text = all_text(payload)
    assert ":warning: 1 unhealthy, 1 not on asm-1-23." in text
    assert "crash-looping: istio-proxy" in text and "not on asm-1-23: `shop/deployment/legacy`"\
        in text
    assert "gateway replicas differ between revisions: asm-1-22 3, asm-1-23 2" in text
    assert "`istiod`: 2-5 cpu 80% | 2-3 cpu 80% :warning: differs: max 5 vs 3" in text
    assert "`aks-istio-ingressgateway-external`: 2-5 | 2-5 :white_check_mark: same" in text
    planes = next(b for b in payload if "fields" in b)
    assert len(planes["fields"]) == 2


def test_a_green_check_says_so() -> None:
    view = CheckView("aks-prod", T0, OLD, NEW, workloads=3, healthy=3,
                     census_by_revision={NEW: 9})
    text = all_text(valid(render_report(check_report(view))))
    assert "Healthy, and every workload is on asm-1-23." in text


def huge_sidecars() -> SidecarsView:
    rows = tuple(SidecarRow(f"ns-{i}/deployment/app-{i}", {OLD: 1, NEW: 2} if i % 2 else {NEW: 3},
                            {"1.23.1": 3}) for i in range(2000))
    return SidecarsView("aks-prod", rows, expected=NEW)


def test_two_thousand_namespaces_are_trimmed_and_the_file_keeps_everything() -> None:
    view = huge_sidecars()
    payload = valid(render_report(sidecars_report(view)))
    assert "more (see the full report file)" in all_text(payload)
    report = sidecars_report(view)
    assert not fits_in_blocks(report.text)
    name, content = as_file(report)
    assert name == "mesh-upgrade-aks-prod-sidecars-aks-prod.txt"
    assert content.count("deployment/app-") == 2000
    assert "2000 workload(s); 1000 not (only) on asm-1-23" in content


def test_a_short_report_fits_and_renders_whole() -> None:
    report = Report("Small", "two lines", (ReportSection("Part", ("a", "b")),), "c1")
    assert fits_in_blocks(report.text)
    assert "*Part*\na\nb" in all_text(valid(render_report(report)))


def test_a_long_report_that_still_fits_is_split_into_sections_not_cut() -> None:
    lines = tuple(f"line {i} " + "y" * 60 for i in range(100))  # ~7,000 characters
    report = Report("Medium", "", (ReportSection("Lines", lines),))
    assert fits_in_blocks(report.text)
    text = all_text(valid(render_report(report)))
    assert all(f"line {i} " in text for i in range(100))


def test_fits_in_blocks_refuses_too_long_text() -> None:
    assert fits_in_blocks("x\n" * 100)
    assert not fits_in_blocks("x" * 20_000)


def test_plan_lists_steps_warnings_and_what_restarts() -> None:
    view = PlanView("aks-prod", OLD, NEW, offered=(NEW, "asm-1-24"),
                    config_map="istio-shared-configmap-asm-1-22", use_tags=True,
                    tags=("`prod-canary` is created, pointing at asm-1-23",),
                    namespaces=("shop",),
                    workloads=("shop/deployment/cart",), warnings=("cart has a PDB of 0",))
    text = all_text(valid(render_report(plan_report(view))))
    assert "asm-1-22 → asm-1-23 (offered: asm-1-23, asm-1-24)" in text
    assert "1. Copy MeshConfig `istio-shared-configmap-asm-1-22`" in text
    assert "3. Move 1 namespace(s) by moving revision tags" in text
    assert ":warning: cart has a PDB of 0" in text
    assert "`prod-canary` is created, pointing at asm-1-23" in text


def test_versions_without_upgrades_point_at_aks_and_tags_list_their_namespaces() -> None:
    versions = VersionsView("aks-prod", (OLD,), (), "1.30.4", {"1.22.3": 9},
                            {OLD: "mcr.microsoft.com/oss/istio/proxyv2:1.22.3-distroless"})
    text = all_text(valid(render_report(versions_report(versions))))
    assert "upgrades offered: none (upgrade the AKS cluster first?)" in text
    assert "proxyv2:1.22.3-distroless" in text
    tags = TagsView("aks-prod", (TagView("prod-stable", OLD, ("shop", "web")),),
                    {NEW: ("edge",)})
    text = all_text(valid(render_report(tags_report(tags))))
    assert "`prod-stable` → asm-1-22: `shop`, `web`" in text and "istio.io/rev=asm-1-23" in text


@dataclass(frozen=True)
class FakeRun:
    id: int
    kind: RunKind
    from_rev: str
    to_rev: str
    phase: Phase
    requested_by: str
    created_at: datetime


@dataclass(frozen=True)
class FakeAudit:
    run_id: int | None
    actor: str
    what: str
    at: datetime


def test_history_lists_runs_and_the_audit_trail() -> None:
    runs = [FakeRun(3, RunKind.MINOR, OLD, NEW, Phase.COMPLETED, "U0ALICE", T0)]
    audit = [FakeAudit(3, "U0BOB", "approved complete", T0), FakeAudit(None, "scheduler",
                                                                       "check <posted>", T0)]
    text = all_text(valid(render_report(history_report("aks-prod", runs, audit))))
    assert f"*3* {AT_9} minor asm-1-22 → asm-1-23: Completed" in text
    assert "<@U0BOB>: approved complete (run 3)" in text
    assert "scheduler: check &lt;posted&gt;" in text


def test_help_lists_every_command_and_a_topic_shows_one() -> None:
    text = all_text(valid(render_help()))
    assert all(f"/mesh-upgrade {v.value}" in text for v in Verb)
    one = all_text(valid(render_help(Verb.START)))
    assert "[--no-tags]" in one and "sidecars" not in one


def test_a_step_shows_who_when_and_the_equivalent_command() -> None:
    step = StepView("Tag prod-stable moved to asm-1-23", StepStatus.DONE, by="U0BOB", at=T0,
                    command="istioctl tag set prod-stable --revision asm-1-23 --overwrite")
    text = all_text(valid(render_step(step)))
    assert ":white_check_mark: *Tag prod-stable moved to asm-1-23*" in text
    assert f"by <@U0BOB> · {AT_9}" in text and "```istioctl tag set" in text
