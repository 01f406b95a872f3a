"""Every kind of message a run produces reads as a person would write it: no state-machine
names (phases, events, detail keys), no bare user ids, no raw ISO stamps, and a notification
text for each. Rendered from realistic audit entries of both minor flows and the patch flow,
refusals and pauses, plus the card (every phase) and a check report."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.slack.blocks import render_report, to_dicts
from bot.slack.card import CardView, card_fallback_text, render_card
from bot.slack.reports import CheckView, check_report
from bot.slack.wording.phrases import Subject, duration
from bot.slack.wording.runs import reply_of, say
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Event, Phase, RunKind
from bot.upgrade.records import AuditEntry

T0 = datetime(2026, 12, 4, 19, 41, 37, tzinfo=UTC)
OLD, NEW = "asm-1-22", "asm-1-23"
MINOR = Subject("aks-prod", OLD, NEW)
PATCH = Subject("aks-prod", NEW, NEW, RunKind.PATCH)
WAVE = {"wave": 6, "of": 6, "restart_id": "2026-12-04T19:41:37.240041Z",
        "patched": ["deployment/payments/payments-api"],
        "done": ["deployment/payments/payments-api"], "skipped": [], "api_requests": 4,
        "approved_by": ["U0CAROL"]}


def moved(to: Phase, event: Event, by: str = "bot", **extra: Any) -> tuple[str, AuditKind, str,
                                                                             dict[str, Any]]:
    return by, AuditKind.PHASE_CHANGED, f"phase {to.value}", {
        "event": event.value, "why": f"{event.value} approved by U0BOB, U0CAROL", "to": to.value,
        **extra}


MINOR_RUN = [
    ("U0ALICE", AuditKind.RUN_REQUESTED, f"requested minor run {OLD} -> {NEW}",
     {"plan": {"current": OLD, "target": NEW, "waves": [["a"], ["b"]]}}),
    ("U0ALICE", AuditKind.REFUSED, "refused start: requester_cannot_approve",
     {"action": "start", "verdict": "requester_cannot_approve", "run_version": 1,
      "why": "You asked for this run, so another approver must approve it."}),
    ("U0MALLORY", AuditKind.REFUSED, "refused start: not_an_approver",
     {"action": "start", "verdict": "not_an_approver", "run_version": 1, "why": "Not listed."}),
    ("U0BOB", AuditKind.APPROVED, "approved start",
     {"action": "start", "run_version": 1, "satisfied": True}),
    moved(Phase.STARTING, Event.START, "U0BOB", approvers=["U0BOB"]),
    ("bot", AuditKind.CONFIG_COPIED, "shared MeshConfig a -> b: copied",
     {"source": "istio-shared-configmap-asm-1-22", "target": "istio-shared-configmap-asm-1-23",
      "outcome": "copied"}),
    ("bot", AuditKind.ARM_PUT, "ARM PUT managedCluster serviceMeshProfile.istio.revisions",
     {"target": [OLD, NEW], "sent": True, "note": "", "approved_by": ["U0BOB"]}),
    ("bot", AuditKind.ARM_SUCCEEDED, "ARM operation succeeded",
     {"target": [OLD, NEW], "status": "Succeeded"}),
    ("bot", AuditKind.TAG_SET, f"istioctl tag set prod-stable --revision {OLD}",
     {"webhook": "istio-revision-tag-prod-stable", "previous": None, "tag": "prod-stable",
      "revision": OLD}),
    ("bot", AuditKind.NAMESPACE_LABELLED,
     "kubectl label namespace payments istio.io/rev=prod-stable --overwrite",
     {"namespace": "payments", "value": "prod-stable"}),
    moved(Phase.CANARY_READY, Event.CONTROL_PLANE_READY),
    ("U0CAROL", AuditKind.APPROVED, "approved roll",
     {"action": "roll", "run_version": 3, "satisfied": True}),
    moved(Phase.ROLLING, Event.ROLL, "U0CAROL", approvers=["U0CAROL"]),
    ("bot", AuditKind.WAVES_PLANNED, "planned restart waves",
     {"waves": [["deployment/payments/payments-api"], ["deployment/shop/cart"]],
      "manual": ["statefulset/db/pg"], "left": []}),
    ("bot", AuditKind.RESTART_WAVE, "rollout restart wave 6/6", WAVE),
    ("bot", AuditKind.PAUSED, "paused",
     {"reason": "Rollout of deployment/shop/cart is stuck: ProgressDeadlineExceeded",
      "hint": "Fix the workload, then resume the run; or roll back."}),
    ("U0BOB", AuditKind.RESUMED, "resumed", {"pause": "Rollout is stuck"}),
    moved(Phase.VERIFYING, Event.ROLLED_OUT),
    moved(Phase.AWAITING_DECISION, Event.SOAK_OVER, soak_seconds=1800.0),
    ("U0ALICE", AuditKind.REQUESTED, "requested complete", {"action": "complete"}),
    ("bot", AuditKind.GATE_REFUSED, "complete refused",
     {"remaining": ["deployment/shop/cart"]}),
    ("U0BOB", AuditKind.APPROVED, "approved complete",
     {"action": "complete", "run_version": 6, "satisfied": False}),
    ("bot", AuditKind.EXPIRED, "expired: complete was not approved by 2026-12-04 23:41 UTC",
     {"action": "complete", "run_version": 6, "asked_at": T0.isoformat()}),
    moved(Phase.COMPLETING, Event.COMPLETE, "U0BOB", approvers=["U0BOB", "U0CAROL"]),
    ("bot", AuditKind.CONFIG_DELETED, "kubectl delete configmap istio-shared-configmap-asm-1-22",
     {}),
    ("bot", AuditKind.TAG_REMOVED, "istioctl tag remove prod-canary",
     {"webhooks": ["istio-revision-tag-prod-canary"], "tag": "prod-canary"}),
    ("bot", AuditKind.TAG_KEPT, "tag kept",
     {"tag": "prod-canary", "revision": NEW, "namespaces": ["partner"],
      "command": "istioctl tag remove prod-canary"}),
    moved(Phase.COMPLETED, Event.FINISHED),
]
ROLLBACK_RUN = [
    ("U0CAROL", AuditKind.APPROVED, "approved rollback",
     {"action": "rollback", "run_version": 6, "satisfied": True}),
    moved(Phase.ROLLING_BACK, Event.ROLLBACK, "U0CAROL", approvers=["U0CAROL"]),
    ("bot", AuditKind.ARM_FAILED, "ARM operation failed",
     {"target": [OLD], "reason": "InternalServerError"}),
    moved(Phase.FAILED, Event.FAIL, why="ARM could not set the revisions"),
    moved(Phase.ROLLING_BACK, Event.RETRY, "U0BOB", approvers=["U0BOB"]),
    moved(Phase.ROLLED_BACK, Event.FINISHED),
    moved(Phase.CANCELLED, Event.CANCEL, "U0BOB", approvers=["U0BOB"]),
    ("bot", AuditKind.NOTE, "the bot restarted and picked the run up again", {}),
    ("bot", AuditKind.TRAFFIC_VERDICT, "traffic breached",
     {"gate": "wave", "wave": 2, "of": 5, "window_seconds": 60.0,
      "verdict": {"outcome": "unavailable", "error": "503", "judgements": []},
      "source": "Prometheus at http://prom:9090", "on_breach": "propose", "held": True}),
    ("U0BOB", AuditKind.TRAFFIC_OVERRIDDEN, "traffic overridden",
     {"gate": "wave", "label": "wave 2 of 5", "reason": "known flaky", "outcome": "unavailable"}),
    ("bot", AuditKind.WINDOW_WAIT, "waiting for the change window",
     {"what": "wave 3 of 5", "opens_at": "2026-12-07T08:00:00+00:00", "freeze": "",
      "windows": "Mon, Tue 09:00 for 6 h (Europe/Berlin)"}),
    ("U0BOB", AuditKind.WINDOW_OVERRIDDEN, "rollback now",
     {"reason": "checkout is failing", "phase": "rolling"}),
]
PATCH_RUN = [
    ("U0ALICE", AuditKind.RUN_REQUESTED, "requested patch run", {"plan": {}}),
    moved(Phase.PATCH_RESTARTING, Event.RESTART, "U0BOB", approvers=["U0BOB"]),
    ("bot", AuditKind.RESTART_WAVE, "rollout restart wave 1/1",
     {**WAVE, "wave": 1, "of": 1, "patched": [f"deployment/shop/svc-{i}" for i in range(5)],
      "skipped": ["deployment/shop/old: scaled to zero"]}),
    moved(Phase.PATCH_VERIFYING, Event.ROLLED_OUT),
    moved(Phase.PATCH_DONE, Event.FINISHED),
]
FLOWS = [(MINOR, e) for e in MINOR_RUN + ROLLBACK_RUN] + [(PATCH, e) for e in PATCH_RUN]

# Names of the state machine: any snake_case word (phases, events, detail keys) or a dump.
_INTERNAL = re.compile(r"\b[a-z]+_[a-z_]+\b|\bphase [a-z]|\bevent: ")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_BARE_USER = re.compile(r"(?<!<@)\b[UW]0[A-Z0-9]+\b")


def shown(text: str) -> str:
    """What a reader sees: no code, no emoji codes, no Slack entities (checked apart)."""
    text = re.sub(r"```.*?```|`[^`]*`", "", text, flags=re.S)
    text = re.sub(r":[a-z0-9_+-]+:", "", text)
    return re.sub(r"<[@!#][^>]*>", "", text)


def problems(text: str) -> list[str]:
    found = [m for m in _INTERNAL.findall(shown(text))]
    found += _ISO.findall(re.sub(r"`[^`]*`", "", text))
    found += _BARE_USER.findall(re.sub(r"<@[UW][A-Z0-9]+>", "", text))
    return found


def block_text(blocks: list[dict[str, Any]]) -> str:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for k, v in node.items():
                if k not in ("value", "action_id", "block_id"):
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(blocks)
    return "\n".join(out)


def entry(i: int, actor: str, kind: AuditKind, what: str, detail: dict[str, Any]) -> AuditEntry:
    return AuditEntry(i, 7, "aks-prod", actor, kind, what, T0 + timedelta(seconds=12), detail)


def test_every_audit_kind_is_covered_by_the_flows() -> None:
    assert {e[1] for _, e in FLOWS} == set(AuditKind)


@pytest.mark.parametrize(("subject", "raw"), FLOWS, ids=lambda x: getattr(x, "value", ""))
def test_every_thread_reply_reads_as_a_person_wrote_it(subject: Subject, raw: Any) -> None:
    blocks, text = reply_of(entry(1, *raw), subject)
    rendered = block_text(to_dicts(blocks))
    assert problems(rendered) == [] and problems(text) == [], (rendered, text)
    assert text and not text.startswith(("phase", "refused", "rollout restart"))
    assert "<!date^" in rendered  # when, in the reader's own zone


def test_the_issue_examples_read_as_sentences() -> None:
    wave = say(entry(1, *MINOR_RUN[14]), MINOR)
    assert wave.sentence == ("Restarted `payments-api` in `payments` (wave 6 of 6): "
                             "rolled out in 12 s.")
    soak = say(entry(1, *MINOR_RUN[18]), MINOR)
    assert soak.sentence.startswith(":raised_hand: Soak over after 30 min.")
    assert "<@U0CAROL>" in " ".join(wave.details)


def test_the_check_catches_what_the_thread_used_to_say() -> None:
    old = ["*phase verifying*\nevent: rolled_out\nwhy: every wave rolled out onto asm-1-23",
           "*rollout restart wave 6/6*\nrestart_id: 2026-12-04T19:41:49.240041Z",
           "approved_by: U0CAROL", "*phase awaiting_decision*\nevent: soak_over"]
    assert all(problems(text) for text in old)


def test_durations_read_in_words() -> None:
    assert [duration(s) for s in (12, 1800, 7500, 90_000)] == ["12 s", "30 min", "2 h 5 min",
                                                               "1 d 1 h"]


@pytest.mark.parametrize("phase", list(Phase))
def test_the_card_and_its_fallback_text_read_well_in_every_phase(phase: Phase) -> None:
    kind = RunKind.PATCH if phase.value.startswith("patch") else RunKind.MINOR
    view = CardView(42, 3, "aks-prod", OLD, NEW, phase, kind, "U0ALICE",
                    progress=(3, 10), updated_at=T0, next_check_at=T0)
    text = card_fallback_text(view)
    assert text and problems(text) == []
    rendered = block_text(to_dicts(render_card(view)))
    assert problems(rendered) == [], rendered


def test_a_check_report_reads_well() -> None:
    view = CheckView("aks-prod", T0, OLD, NEW, 12, 12)
    report = check_report(view)
    rendered = block_text(to_dicts(render_report(report)))
    assert problems(rendered) == [] and problems(report.title) == []
    assert "<!date^" in rendered
