"""What the traffic gates say: a wave's or the soak's golden signals before and after, in
figures people read (99.71 %, 245 ms, 12.3 req/s), the verdict's sentence in the thread, and
an override with its reason. Pure: plain data in, mrkdwn out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from bot.slack.wording.phrases import (
    Said,
    Subject,
    code,
    count,
    detail_of,
    duration,
    human,
    person,
)
from bot.traffic.signals import WorkloadKey
from bot.traffic.verdicts import Judgement, Outcome, Verdict
from bot.upgrade.kinds import AuditKind
from bot.upgrade.records import AuditEntry

BREACHES_SHOWN = 5
_RANK = {Outcome.BREACHED: 0, Outcome.UNAVAILABLE: 1, Outcome.NO_VERDICT: 2, Outcome.PASSED: 3}
OUTCOME_EMOJI: Mapping[str, str] = MappingProxyType({
    Outcome.PASSED.value: ":white_check_mark:", Outcome.BREACHED.value: ":x:",
    Outcome.NO_VERDICT.value: ":grey_question:", Outcome.UNAVAILABLE.value: ":warning:",
})
_OUTCOME_WORDS: Mapping[str, str] = MappingProxyType({
    Outcome.PASSED.value: "passed", Outcome.BREACHED.value: "breached",
    Outcome.NO_VERDICT.value: "no verdict: too little traffic",
    Outcome.UNAVAILABLE.value: "no verdict: metrics unavailable",
})


def percent(value: float | None) -> str:
    """A success rate: `99.71 %`; `no requests` when there were none."""
    return "no requests" if value is None else f"{value:.2f} %"


def millis(value: float | None) -> str:
    """A latency: `245 ms`, `1,210 ms`; `n/a` without requests."""
    return "n/a" if value is None else f"{value:,.0f} ms"


def per_second(rps: float) -> str:
    """A request rate without its unit: `12.3`, `0.05` for a trickle."""
    return f"{rps:.2f}" if 0 < rps < 0.1 else f"{rps:,.1f}"


def workload_key(key: WorkloadKey) -> str:
    """`reviews-v2` in `bookinfo`."""
    return f"{code(key.name)} in {code(key.namespace)}"


def figures(j: Judgement) -> str:
    """`success rate 99.71 % → 92.10 %, p99 245 ms → 1,210 ms, 12.3 → 11.8 req/s`."""
    return (f"success rate {percent(j.before.success_rate)} → {percent(j.after.success_rate)}, "
            f"p99 {millis(j.before.p99_ms)} → {millis(j.after.p99_ms)}, "
            f"{per_second(j.before.rps)} → {per_second(j.after.rps)} req/s")


def worst_first(verdict: Verdict) -> tuple[Judgement, ...]:
    """Every judgement: breaches (worst first), then the unjudged, then the passes."""
    return tuple(sorted(verdict.judgements,
                        key=lambda j: (_RANK[j.outcome], -j.severity(), j.workload)))


def outcome_words(outcome: str) -> str:
    return _OUTCOME_WORDS.get(outcome, "no verdict")


def gate_label(detail: Mapping[str, Any]) -> str:
    """`wave 2 of 5` or `the soak`, from a verdict's or an override's detail."""
    if detail.get("label"):
        return str(detail["label"])
    if detail.get("gate") == "soak":
        return "the soak"
    return f"wave {detail.get('wave', '?')} of {detail.get('of', '?')}"


def gate_when(detail: Mapping[str, Any]) -> str:
    """`after wave 2 of 5` or `over the soak`."""
    return "over the soak" if detail.get("gate") == "soak" else label_when(gate_label(detail))


def label_when(label: str) -> str:
    """A gate's label (`wave 2 of 5`, `the soak`) as when its traffic was judged."""
    return "over the soak" if label == "the soak" else f"after {label}"


def override_command(cluster: str) -> str:
    return code(f"/mesh-upgrade override {cluster} <reason>")


def traffic_verdict(entry: AuditEntry) -> Verdict | None:
    """The verdict a TRAFFIC_VERDICT entry records; None for any other entry."""
    verdict = detail_of(entry).get("verdict")
    if entry.kind is not AuditKind.TRAFFIC_VERDICT or not isinstance(verdict, Mapping):
        return None
    return Verdict.from_json(verdict)


def say_traffic_verdict(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    verdict = traffic_verdict(e) or Verdict.unavailable("the verdict was not recorded")
    sentence = _VERDICT_WORDS[verdict.outcome](verdict, gate_when(d))
    then = _then(d, verdict, s)
    window = d.get("window_seconds")
    how = [f"windows of {duration(float(window))} before and after"] \
        if isinstance(window, (int, float)) else []
    how += [human(d["source"])] if d.get("source") else []
    how += [f"on a breach: {code('on_breach: ' + str(d['on_breach']))}"] \
        if d.get("on_breach") and not verdict.passed else []
    return Said(sentence + (f"\n{then}" if then else ""), (" · ".join(how),) if how else ())


def _passed(v: Verdict, when: str) -> str:
    quiet = v.of(Outcome.NO_VERDICT)
    also = (f", {len(quiet)} had too little traffic to judge "
            f"({_keys([j.workload for j in quiet])})") if quiet else ""
    return f"Traffic held {when}: {count(len(v.of(Outcome.PASSED)), 'workload')} passed{also}."


def _breached(v: Verdict, when: str) -> str:
    shown = [f"• {workload_key(j.workload)}: {figures(j)}"
             for j in v.breaches[:BREACHES_SHOWN]]
    more = len(v.breaches) - BREACHES_SHOWN
    shown += [f"• and {count(more, 'more workload')}"] if more > 0 else []
    return (f":x: Traffic got worse {when}: {count(len(v.breaches), 'workload')} breached "
            f"the thresholds ({v.summary()}).\n" + "\n".join(shown))


def _no_verdict(v: Verdict, when: str) -> str:
    if not v.judgements:
        return f":grey_question: No verdict on the traffic {when}: no workloads to judge."
    return (f":grey_question: No verdict on the traffic {when}: every workload had too little "
            f"traffic to judge ({_keys([j.workload for j in v.judgements])}). Not a pass.")


def _unavailable(v: Verdict, when: str) -> str:
    return (f":warning: No verdict on the traffic {when}: the metrics source failed "
            f"({human(v.error or 'no answer')}); not a pass.")


_VERDICT_WORDS: Mapping[Outcome, Callable[[Verdict, str], str]] = MappingProxyType({
    Outcome.PASSED: _passed, Outcome.BREACHED: _breached, Outcome.NO_VERDICT: _no_verdict,
    Outcome.UNAVAILABLE: _unavailable,
})


def _then(d: Mapping[str, Any], verdict: Verdict, s: Subject) -> str:
    """What happens now: nothing to say after a pass; else the bot rolls back, or it waits."""
    if verdict.passed:
        return ""
    if verdict.outcome is Outcome.BREACHED and d.get("on_breach") == "rollback" \
            and not d.get("held"):
        return "The bot is rolling back the data plane, as the cluster's traffic gates ask."
    if not d.get("held"):
        return "The run goes on." if d.get("gate") != "soak" else ""
    if d.get("gate") == "soak":
        return (f"Complete is blocked. Roll back on the card, or accept the traffic with "
                f"{override_command(s.cluster)} and complete.")
    return (f"Further waves are stopped. Roll back on the card, or continue with "
            f"{override_command(s.cluster)}.")


def say_traffic_overridden(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    where = "of the soak" if d.get("gate") == "soak" else f"after {gate_label(d)}"
    reason = human(d.get("reason") or "no reason given")
    return Said(f"{person(e.actor)} overrode the traffic gate {where} "
                f"({outcome_words(str(d.get('outcome', '')))}): “{reason}”")


def _keys(keys: Sequence[WorkloadKey], most: int = 5) -> str:
    shown = ", ".join(workload_key(k) for k in keys[:most])
    return shown + (f" and {len(keys) - most} more" if len(keys) > most else "")
