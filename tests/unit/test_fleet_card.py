"""The fleet card: the buttons each fleet phase allows and the values they carry, the refusal of
any value the bot never wrote, each cluster's row and the evidence for promotion, what the
fleet waits for, user text that never becomes a mention, and a 50-cluster fleet within
Slack's limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.fleet.runs import FleetAction, FleetPhase, FleetRun, Member, MemberState, RingSpec
from bot.slack.blocks import TEXT_BUDGET, to_dicts
from bot.slack.fleet.card import (
    ACTION_IDS,
    FleetButton,
    FleetView,
    InvalidFleetButton,
    MemberView,
    decode_value,
    encode_value,
    fleet_fallback_text,
    render_fleet_card,
    waits_for,
)
from bot.upgrade.approvals import ApprovalPolicy
from bot.upgrade.phases import Phase, RunKind
from bot.upgrade.records import Run
from bot.workflow.fleet.records import Evidence
from meshsim.slack.blockkit import validate
from tests.unit.test_blocks import all_text, buttons

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=6)
TARGET = "asm-1-24"
RINGS = (RingSpec("dev", 2, timedelta(hours=1)), RingSpec("staging", 3, timedelta(hours=2)),
         RingSpec("prod", 1, timedelta(hours=4)))
POLICY = ApprovalPolicy(("S0FLEETOPS",), (), 2, timedelta(hours=24), timedelta(hours=2))
LINK = "https://example.slack.com/archives/C0FLEET/p1740819600000100"
HOSTILE = "<!channel> & <@U1>"
ESCAPED = "&lt;!channel&gt; &amp; &lt;@U1&gt;"
PROMOTE, PAUSE, RESUME, CANCEL = (ACTION_IDS[a] for a in (
    FleetAction.PROMOTE, FleetAction.PAUSE, FleetAction.RESUME, FleetAction.CANCEL))


def fleet_run(phase: FleetPhase = FleetPhase.RUNNING, ring: int = 0, note: str = "",
              soak_until: datetime | None = None) -> FleetRun:
    return FleetRun(7, "global", TARGET, "U0ALICE", phase, ring, note, soak_until, None, 12,
                    T0, T0)


def cluster_run(cluster: str, phase: Phase, pause_reason: str | None = None) -> Run:
    return Run(101, cluster, RunKind.MINOR, "asm-1-23", TARGET, phase, "U0ALICE", {}, {},
               pause_reason, None, 3, T0, T0)


def row(cluster: str, ring: int, state: MemberState, *, reason: str = "",
        phase: Phase | None = None, link: str | None = None, pause_reason: str | None = None,
        evidence: Evidence | None = None) -> MemberView:
    run = None if phase is None else cluster_run(cluster, phase, pause_reason)
    return MemberView(Member(cluster, ring, state, None if run is None else run.id, reason),
                      run, link, evidence)


def view(run: FleetRun, *members: MemberView, approvals: tuple[str, ...] = (),
         rings: tuple[RingSpec, ...] = RINGS) -> FleetView:
    return FleetView(run, rings, members, POLICY, approvals, NOW)


def payload_of(fleet: FleetView) -> list[dict[str, Any]]:
    """The JSON Slack would get, after asserting that Slack (the simulator) accepts it."""
    payload = to_dicts(render_fleet_card(fleet))
    assert validate(payload) == []
    return payload


def slack_time(at: datetime) -> str:
    return (f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|"
            f"{at.strftime('%Y-%m-%d %H:%M')} UTC>")


SOME = (row("aks-dev-1", 0, MemberState.COMPLETED, phase=Phase.COMPLETED, link=LINK),
        row("aks-stg-1", 1, MemberState.PENDING), row("aks-prod-1", 2, MemberState.PENDING))

# --- buttons -------------------------------------------------------------------------------

EXPECTED_BUTTONS = {
    FleetPhase.RUNNING: [PAUSE, CANCEL],
    FleetPhase.SOAKING: [PAUSE, CANCEL],
    FleetPhase.AWAITING_PROMOTION: [PROMOTE, PAUSE, CANCEL],
    FleetPhase.STOPPED: [RESUME, CANCEL],
    FleetPhase.PAUSED: [RESUME, CANCEL],
    FleetPhase.COMPLETED: [],
    FleetPhase.CANCELLED: [],
}


@pytest.mark.parametrize("phase", list(FleetPhase))
def test_each_phase_offers_exactly_its_buttons_and_each_value_decodes_back(
        phase: FleetPhase) -> None:
    payload = payload_of(view(fleet_run(phase, soak_until=NOW), *SOME))
    shown = [e for b in payload if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in shown] == EXPECTED_BUTTONS[phase]
    for button in shown:
        decoded = decode_value(button["value"], button["action_id"])
        assert decoded == FleetButton(7, FleetAction(button["action_id"][len("fleet-"):]), 12)


def test_a_finished_fleet_has_no_actions_block() -> None:
    for phase in (FleetPhase.COMPLETED, FleetPhase.CANCELLED):
        payload = payload_of(view(fleet_run(phase, ring=2), *SOME))
        assert [b for b in payload if b["type"] == "actions"] == []


def test_awaiting_promotion_names_the_next_ring_on_its_primary_button() -> None:
    shown = buttons(payload_of(view(fleet_run(FleetPhase.AWAITING_PROMOTION, ring=1), *SOME)))
    assert shown[PROMOTE]["text"]["text"] == "Approve promotion to prod"
    assert shown[PROMOTE]["style"] == "primary"
    assert shown[PAUSE]["text"]["text"] == "Pause fleet"
    assert decode_value(shown[PROMOTE]["value"], PROMOTE) == FleetButton(
        7, FleetAction.PROMOTE, 12)


def test_stopped_offers_resume_and_cancel_with_their_styles() -> None:
    shown = buttons(payload_of(view(fleet_run(FleetPhase.STOPPED, note="aks-dev-1 failed"),
                                    *SOME)))
    assert shown[RESUME]["text"]["text"] == "Resume fleet" and shown[RESUME]["style"] == "primary"
    assert shown[CANCEL]["style"] == "danger"


def test_only_cancel_asks_for_confirmation() -> None:
    shown = buttons(payload_of(view(fleet_run(FleetPhase.AWAITING_PROMOTION), *SOME)))
    confirm = shown[CANCEL]["confirm"]
    assert confirm["title"]["text"] == "Cancel the fleet run?"
    assert confirm["confirm"]["text"] == "Cancel fleet run"
    assert confirm["deny"]["text"] == "Keep it"
    assert "runs under way go on" in confirm["text"]["text"]
    assert "confirm" not in shown[PROMOTE] and "confirm" not in shown[PAUSE]


def test_the_buttons_carry_the_fleet_runs_current_version() -> None:
    run = replace(fleet_run(FleetPhase.PAUSED), id=31, version=99)
    shown = buttons(payload_of(view(run, *SOME)))
    assert shown[RESUME]["value"] == "fleet=31;a=resume;v=99"
    assert decode_value(shown[CANCEL]["value"], CANCEL) == FleetButton(
        31, FleetAction.CANCEL, 99)


# --- button values -------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(FleetAction))
def test_encode_and_decode_are_inverse_up_to_eighteen_digits(action: FleetAction) -> None:
    big = 10**18 - 1
    for fleet_id, version in ((0, 0), (7, 12), (big, big)):
        value = encode_value(fleet_id, action, version)
        assert len(value) <= 64
        assert decode_value(value, ACTION_IDS[action]) == FleetButton(fleet_id, action, version)


def test_action_ids_are_kebab_case_and_distinct() -> None:
    assert set(ACTION_IDS) == set(FleetAction)
    assert sorted(ACTION_IDS.values()) == ["fleet-cancel", "fleet-pause", "fleet-promote",
                                           "fleet-resume"]


@pytest.mark.parametrize(("value", "aid"), [
    ("fleet=7;a=promote;v=12", CANCEL),  # the action the value names is not the button's
    ("fleet=7;a=cancel;v=12", PROMOTE),
    ("fleet=7;a=promote;v=12 ", PROMOTE),  # extra characters
    ("fleet=7;a=promote;v=12\n", PROMOTE),
    (" fleet=7;a=promote;v=12", PROMOTE),
    ("fleet=7;a=promote;v=12;x=1", PROMOTE),
    ("fleet=07;a=promote;v=12", PROMOTE),  # leading zeros
    ("fleet=7;a=promote;v=012", PROMOTE),
    ("fleet=-7;a=promote;v=12", PROMOTE),  # negative
    ("fleet=7;a=promote;v=-1", PROMOTE),
    ("fleet=+7;a=promote;v=12", PROMOTE),
    (f"fleet={10**18};a=promote;v=12", PROMOTE),  # a number longer than 18 digits
    ("fleet=7;a=promote;v=" + "1" * 60, PROMOTE),  # too long
    ("fleet=\u0667;a=promote;v=12", PROMOTE),  # an Arabic-Indic digit seven
    ("fleet=7;a=PROMOTE;v=12", PROMOTE),
    ("run=7;a=promote;v=12", PROMOTE),  # a run card's value
    ("", PROMOTE),
    ("fleet=7;a=promote;v=12", "approve-start"),  # an action id that is not the fleet card's
    ("fleet=7;a=promote;v=12", "fleet-promote "),
    ("fleet=7;a=promote;v=12", ""),
])
def test_decode_refuses_a_value_the_bot_never_wrote(value: str, aid: str) -> None:
    with pytest.raises(InvalidFleetButton):
        decode_value(value, aid)


@pytest.mark.parametrize(("value", "aid"), [
    (7, PROMOTE), (None, PROMOTE), (b"fleet=7;a=promote;v=12", PROMOTE),
    (["fleet=7;a=promote;v=12"], PROMOTE), ("fleet=7;a=promote;v=12", None),
    ("fleet=7;a=promote;v=12", 1),
])
def test_decode_refuses_anything_but_strings(value: object, aid: object) -> None:
    with pytest.raises(InvalidFleetButton):
        decode_value(value, aid)


def test_an_invalid_button_is_a_value_error_for_the_one_error_handler() -> None:
    assert issubclass(InvalidFleetButton, ValueError)


# --- rows ----------------------------------------------------------------------------------


def rows_text(fleet: FleetView) -> str:
    """The ring sections only (after the divider), without the summary that names clusters."""
    payload = payload_of(fleet)
    start = next(i for i, b in enumerate(payload) if b["type"] == "divider") + 1
    return "\n".join(b["text"]["text"] for b in payload[start:] if b["type"] == "section")


def test_a_member_with_a_run_links_its_card_and_shows_its_phase() -> None:
    text = rows_text(view(fleet_run(), row("aks-dev-1", 0, MemberState.RUNNING,
                                           phase=Phase.ROLLING, link=LINK)))
    line = next(ln for ln in text.splitlines() if "aks-dev-1" in ln)
    assert line == f":arrows_counterclockwise: <{LINK}|aks-dev-1>: Rolling: workloads restarting"


def test_a_member_without_a_link_shows_its_name_as_code() -> None:
    text = rows_text(view(fleet_run(), row("aks-dev-2", 0, MemberState.PENDING)))
    assert "`aks-dev-2`: waits for its ring" in text
    assert "|aks-dev-2>" not in text


def test_a_completed_member_shows_the_evidence_for_promotion() -> None:
    evidence = Evidence(NOW - timedelta(hours=2, minutes=5), 3, 1,
                        {"passed": 5, "breached": 1}, "passed")
    text = rows_text(view(fleet_run(FleetPhase.SOAKING, soak_until=NOW),
                          row("aks-dev-1", 0, MemberState.COMPLETED, phase=Phase.COMPLETED,
                              link=LINK, evidence=evidence)))
    assert f"<{LINK}|aks-dev-1>: Completed" in text
    assert ("_on the new revision for 2 h 5 min · checks 3/4 passed · "
            "traffic: 5/6 waves passed, soak passed_") in text


def test_evidence_without_checks_or_traffic_says_so() -> None:
    text = rows_text(view(fleet_run(FleetPhase.SOAKING, soak_until=NOW),
                          row("aks-dev-1", 0, MemberState.COMPLETED, phase=Phase.COMPLETED,
                              evidence=Evidence(None, 0, 0, {}, None))))
    assert "_no checks recorded_" in text


def test_evidence_of_a_soak_without_waves_names_the_soak_verdict() -> None:
    text = rows_text(view(fleet_run(FleetPhase.SOAKING, soak_until=NOW),
                          row("aks-dev-1", 0, MemberState.COMPLETED, phase=Phase.COMPLETED,
                              evidence=Evidence(None, 2, 0, {}, "no_verdict"))))
    assert "_checks 2/2 passed · traffic soak no verdict_" in text


def test_a_skipped_member_says_why() -> None:
    text = rows_text(view(fleet_run(), row("aks-dev-3", 0, MemberState.SKIPPED,
                                           reason="its region has no asm-1-24 yet")))
    assert ":no_entry: `aks-dev-3`: skipped: its region has no asm-1-24 yet" in text


def test_a_member_already_on_the_target_says_so() -> None:
    text = rows_text(view(fleet_run(), row("aks-dev-4", 0, MemberState.AT_TARGET)))
    assert ":white_check_mark: `aks-dev-4`: already on asm-1-24" in text


def test_a_stopped_member_says_it_stops_the_fleet_and_why() -> None:
    text = rows_text(view(fleet_run(FleetPhase.STOPPED, note="aks-dev-1: its run rolled back"),
                          row("aks-dev-1", 0, MemberState.STOPPED, phase=Phase.ROLLED_BACK,
                              link=LINK, reason="its run rolled back: p99 doubled")))
    line = next(ln for ln in text.splitlines() if "aks-dev-1" in ln)
    assert f"<{LINK}|aks-dev-1>: Rolled back" in line
    assert "*stops the fleet*: its run rolled back: p99 doubled" in line


def test_a_paused_cluster_run_shows_its_pause_reason() -> None:
    text = rows_text(view(fleet_run(), row(
        "aks-dev-1", 0, MemberState.RUNNING, phase=Phase.ROLLING, link=LINK,
        pause_reason="Rollout of bookinfo/reviews is stuck")))
    assert "· _paused: Rollout of bookinfo/reviews is stuck_" in text


def test_a_pause_reason_shows_only_while_the_member_runs() -> None:
    text = rows_text(view(fleet_run(), row(
        "aks-dev-1", 0, MemberState.COMPLETED, phase=Phase.COMPLETED,
        pause_reason="an old note")))
    assert "paused" not in text


def test_rings_are_rows_in_order_with_their_state() -> None:
    run = fleet_run(FleetPhase.RUNNING, ring=1)
    text = rows_text(view(run, *SOME))
    dev, staging, prod = (text.index(f"*Ring {i} · {n}*")
                          for i, n in ((1, "dev"), (2, "staging"), (3, "prod")))
    assert dev < text.index("aks-dev-1") < staging < text.index("aks-stg-1") < prod
    assert "*Ring 1 · dev* · 2 at a time · soak 1 h · done" in text
    assert "*Ring 2 · staging* · 3 at a time · soak 2 h · under way" in text
    assert "*Ring 3 · prod* · 1 at a time · soak 4 h\n" in text


# --- what the fleet waits for --------------------------------------------------------------


def test_running_names_the_clusters_under_way_in_the_current_ring() -> None:
    fleet = view(fleet_run(FleetPhase.RUNNING, ring=1),
                 row("aks-dev-1", 0, MemberState.RUNNING, phase=Phase.ROLLING),
                 row("aks-stg-1", 1, MemberState.RUNNING, phase=Phase.ROLLING),
                 row("aks-stg-2", 1, MemberState.COMPLETED, phase=Phase.COMPLETED),
                 row("aks-stg-3", 1, MemberState.RUNNING, phase=Phase.CANARY_READY))
    text = waits_for(fleet)
    assert text.startswith("Waits for `aks-stg-1`, `aks-stg-3`: ")
    assert "aks-dev-1" not in text and "aks-stg-2" not in text
    assert text in all_text(payload_of(fleet))


def test_running_with_nothing_under_way_says_the_next_clusters_start() -> None:
    fleet = view(fleet_run(FleetPhase.RUNNING), row("aks-dev-1", 0, MemberState.PENDING))
    assert waits_for(fleet) == "Starting the ring's next clusters."


def test_soaking_names_the_end_and_the_next_ring_and_its_approvers() -> None:
    until = T0 + timedelta(hours=4)
    text = waits_for(view(fleet_run(FleetPhase.SOAKING, ring=0, soak_until=until), *SOME))
    assert f"Ring *dev* is done and soaks until {slack_time(until)}" in text
    assert "then promotion to *staging* needs 2 approvals from <!subteam^S0FLEETOPS>" in text


def test_awaiting_promotion_names_the_approver_group_and_who_approved() -> None:
    fleet = view(fleet_run(FleetPhase.AWAITING_PROMOTION, ring=1), *SOME,
                 approvals=("U0BOB",))
    text = waits_for(fleet)
    assert text.startswith("Promotion to ring *prod* needs 2 approvals from "
                           "<!subteam^S0FLEETOPS> (not the requester).")
    assert text.endswith(" Approved so far by <@U0BOB>.")
    assert text in all_text(payload_of(fleet))


def test_awaiting_promotion_without_approvals_names_nobody() -> None:
    text = waits_for(view(fleet_run(FleetPhase.AWAITING_PROMOTION), *SOME))
    assert "Approved so far" not in text and "<@" not in text


def test_one_required_approval_from_a_user_reads_in_the_singular() -> None:
    fleet = replace(view(fleet_run(FleetPhase.AWAITING_PROMOTION), *SOME),
                    promotion=replace(POLICY, groups=(), users=("U0CAROL",), required=1))
    assert "needs 1 approval from <@U0CAROL> (not" in waits_for(fleet)


def test_stopped_shows_the_note_and_what_resume_and_cancel_do() -> None:
    text = waits_for(view(fleet_run(FleetPhase.STOPPED, note="aks-dev-1: its run failed"),
                          *SOME))
    assert text.startswith(":octagonal_sign: aks-dev-1: its run failed\n")
    assert "*Resume*" in text and "*Cancel*" in text


def test_paused_and_completed_say_what_comes_next() -> None:
    paused = waits_for(view(fleet_run(FleetPhase.PAUSED, note="Paused by <@U0BOB>"), *SOME))
    assert "Runs under way go on; *Resume* carries on." in paused
    done = waits_for(view(fleet_run(FleetPhase.COMPLETED, ring=2), *SOME))
    assert done == "Every ring is done: its clusters run *asm-1-24* or were skipped."


def test_the_summary_names_the_phase_and_ring() -> None:
    payload = payload_of(view(fleet_run(FleetPhase.AWAITING_PROMOTION, ring=1), *SOME))
    assert payload[0]["text"]["text"] == "Fleet global → asm-1-24"
    assert payload[1]["text"]["text"].startswith(
        "*:raised_hand: Awaiting promotion* · ring 2 of 3 (*staging*)\n")
    assert "Fleet run 7 · requested by <@U0ALICE>" in payload[2]["elements"][0]["text"]


def test_the_fallback_text_names_fleet_target_phase_and_ring() -> None:
    text = fleet_fallback_text(view(fleet_run(FleetPhase.SOAKING, ring=1), *SOME))
    assert text == "Fleet global to asm-1-24: soaking, ring staging"


# --- user text -----------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [FleetPhase.STOPPED, FleetPhase.PAUSED, FleetPhase.CANCELLED])
def test_a_note_is_shown_escaped_never_as_a_mention(phase: FleetPhase) -> None:
    fleet = view(fleet_run(phase, note=HOSTILE), *SOME)
    text = all_text(payload_of(fleet))
    assert ESCAPED in waits_for(fleet) and ESCAPED in text
    assert "<!channel>" not in text and "<@U1>" not in text


def test_member_reasons_and_pause_reasons_are_escaped() -> None:
    fleet = view(fleet_run(FleetPhase.STOPPED, note="stopped"),
                 row("aks-dev-1", 0, MemberState.STOPPED, phase=Phase.FAILED, reason=HOSTILE),
                 row("aks-dev-2", 0, MemberState.SKIPPED, reason=HOSTILE),
                 row("aks-dev-3", 0, MemberState.RUNNING, phase=Phase.ROLLING,
                     pause_reason=HOSTILE),
                 row("aks-stg-1", 1, MemberState.PENDING, reason=HOSTILE))
    text = all_text(payload_of(fleet))
    assert text.count(ESCAPED) == 4
    assert "<!channel>" not in text and "<@U1>" not in text


def test_a_long_escaped_reason_is_never_cut_inside_an_entity() -> None:
    fleet = view(fleet_run(), row("aks-dev-1", 0, MemberState.SKIPPED, reason="&" * 400))
    line = next(ln for ln in rows_text(fleet).splitlines() if "aks-dev-1" in ln)
    body = line.split("skipped: ", 1)[1]
    assert body.replace("&amp;", "").rstrip("…") == ""


# --- scale ---------------------------------------------------------------------------------

SIZES = (5, 15, 30)
BIG_RINGS = (RingSpec("canary-" + "c" * 40, 5, timedelta(hours=1)),
             RingSpec("early-adopters-" + "e" * 40, 5, timedelta(hours=6)),
             RingSpec("production-" + "p" * 40, 10, timedelta(days=2)))


def big_name(i: int) -> str:
    """An AKS name at its 63-character limit; no name is part of another."""
    return f"aks-prod-westeurope-platform-shared-services-cluster-{i:03d}-xyz"[:63]


def big_member(i: int, ring: int, cut: int) -> MemberView:
    reason = f"cluster {i:03d}: " + "the node pool is pinned to an old Kubernetes minor " * 5
    reason = reason[:200]
    name, link = big_name(i), f"{LINK}{i:03d}?thread_ts=1740819600.000100&cid=C0FLEET"
    ev = Evidence(NOW - timedelta(hours=30), 12, 1, {"passed": 5, "breached": 1}, "passed")
    if ring < cut:
        return row(name, ring, MemberState.COMPLETED, phase=Phase.COMPLETED, link=link,
                   evidence=ev)
    if ring > cut:
        return row(name, ring, MemberState.PENDING, reason=reason)
    kinds = (row(name, ring, MemberState.RUNNING, phase=Phase.ROLLING, link=link,
                 pause_reason=reason),
             row(name, ring, MemberState.STOPPED, phase=Phase.ROLLED_BACK, link=link,
                 reason=reason),
             row(name, ring, MemberState.SKIPPED, reason=reason),
             row(name, ring, MemberState.COMPLETED, phase=Phase.COMPLETED, link=link,
                 evidence=ev),
             row(name, ring, MemberState.AT_TARGET, reason=reason))
    return kinds[i % len(kinds)]


def big_fleet(phase: FleetPhase, ring: int) -> FleetView:
    members, i = [], 0
    for r, size in enumerate(SIZES):
        for _ in range(size):
            members.append(big_member(i, r, ring))
            i += 1
    run = replace(fleet_run(phase, ring, note="n" * 300, soak_until=NOW),
                  fleet="f" * 200, id=10**18 - 1, version=10**18 - 1)
    return view(run, *members, approvals=tuple(f"U0{n:07d}" for n in range(8)), rings=BIG_RINGS)


SCALES = [(FleetPhase.RUNNING, 1), (FleetPhase.RUNNING, 2), (FleetPhase.SOAKING, 1),
          (FleetPhase.AWAITING_PROMOTION, 1), (FleetPhase.STOPPED, 2), (FleetPhase.PAUSED, 0),
          (FleetPhase.COMPLETED, 2), (FleetPhase.CANCELLED, 1)]


def _sections(payload: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in payload if b["type"] == "section"]


@pytest.mark.parametrize(("phase", "ring"), SCALES)
def test_fifty_clusters_in_three_rings_fit_slacks_limits(phase: FleetPhase, ring: int) -> None:
    payload = payload_of(big_fleet(phase, ring))
    assert len(payload) <= 50
    assert all(len(text) <= 3000 for text in _sections(payload))
    assert len(payload[0]["text"]["text"]) <= 150
    for button in (e for b in payload if b["type"] == "actions" for e in b["elements"]):
        assert len(button["value"]) <= 2000 and len(button["text"]["text"]) <= 75
        assert decode_value(button["value"], button["action_id"]).version == 10**18 - 1


@pytest.mark.parametrize(("phase", "ring"), SCALES)
def test_fifty_clusters_each_appear_exactly_once_in_the_rows(phase: FleetPhase,
                                                             ring: int) -> None:
    text = rows_text(big_fleet(phase, ring))
    counts = {big_name(i): text.count(big_name(i)) for i in range(sum(SIZES))}
    assert counts == {name: 1 for name in counts}
    assert len(set(counts)) == 50


def test_fifty_clusters_stay_within_the_cumulative_text_budget() -> None:
    payload = payload_of(big_fleet(FleetPhase.RUNNING, 1))
    assert _text_size(payload) <= TEXT_BUDGET


def _text_size(node: object) -> int:
    if isinstance(node, Mapping):
        return sum(len(v) if k == "text" and isinstance(v, str) else _text_size(v)
                   for k, v in node.items())
    return sum(_text_size(v) for v in node) if isinstance(node, list) else 0
