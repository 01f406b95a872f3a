"""Compare a workload's traffic after a change with its traffic before, by the cluster's
thresholds, and sum the comparisons up into one verdict for a wave or a soak.

Too little traffic on either side is "no verdict": shown as such, never counted as a pass.
A breach needs both the relative and the absolute p99 growth, so that 2 ms becoming 3 ms
(+50 %) on a fast service is not called a regression.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.traffic.signals import Figures, Signals, WorkloadKey


@dataclass(frozen=True)
class Thresholds:
    max_success_drop: float = 1.0  # percentage points of success rate
    max_p99_growth: float = 0.20  # a fraction of the baseline's p99 ...
    max_p99_growth_ms: float = 50.0  # ... and at least this many milliseconds
    min_requests: int = 100  # in each window, for a workload to be judged


class Outcome(StrEnum):
    PASSED = "passed"
    BREACHED = "breached"
    NO_VERDICT = "no_verdict"  # too little traffic to judge
    UNAVAILABLE = "unavailable"  # the metrics source failed: never a pass


@dataclass(frozen=True)
class Judgement:
    """One workload: before, after, and why it passed, breached or could not be judged."""

    workload: WorkloadKey
    outcome: Outcome
    before: Signals
    after: Signals
    reasons: tuple[str, ...] = ()

    @property
    def success_drop(self) -> float:
        b, a = self.before.success_rate, self.after.success_rate
        return 0.0 if b is None or a is None else b - a

    @property
    def p99_growth_ms(self) -> float:
        b, a = self.before.p99_ms, self.after.p99_ms
        return 0.0 if b is None or a is None else a - b

    def severity(self) -> float:
        """For ordering the worst first: points of success lost, then p99 growth."""
        return self.success_drop * 1000 + self.p99_growth_ms


def judge(workload: WorkloadKey, before: Signals, after: Signals, t: Thresholds) -> Judgement:
    if before.requests >= t.min_requests and after.requests <= 0:
        return Judgement(workload, Outcome.BREACHED, before, after,
                         (f"traffic fell to zero (from {before.rps:.1f} req/s)",))
    if before.requests < t.min_requests or after.requests < t.min_requests:
        fewest = min(before.requests, after.requests)
        return Judgement(workload, Outcome.NO_VERDICT, before, after,
                         (f"{fewest:.0f} requests in a window, fewer than {t.min_requests}",))
    reasons = []
    b_rate, a_rate = before.success_rate, after.success_rate
    if b_rate is not None and a_rate is not None and b_rate - a_rate > t.max_success_drop:
        reasons.append(f"success rate {b_rate:.2f}% -> {a_rate:.2f}% "
                       f"(-{b_rate - a_rate:.2f} points, at most {t.max_success_drop:g})")
    b_p99, a_p99 = before.p99_ms, after.p99_ms
    if b_p99 is not None and a_p99 is not None:
        growth = a_p99 - b_p99
        if growth > t.max_p99_growth_ms and growth > t.max_p99_growth * b_p99:
            reasons.append(f"p99 {b_p99:.0f} ms -> {a_p99:.0f} ms (+{growth:.0f} ms, at most "
                           f"+{t.max_p99_growth:.0%} and {t.max_p99_growth_ms:g} ms)")
    outcome = Outcome.BREACHED if reasons else Outcome.PASSED
    return Judgement(workload, outcome, before, after, tuple(reasons))


@dataclass(frozen=True)
class Verdict:
    """A wave's or a soak's traffic: every workload judged, or why nothing could be."""

    outcome: Outcome
    judgements: tuple[Judgement, ...]
    error: str = ""  # when UNAVAILABLE: what the metrics source said

    @property
    def breaches(self) -> tuple[Judgement, ...]:
        """The breached workloads, worst first."""
        return tuple(sorted((j for j in self.judgements if j.outcome is Outcome.BREACHED),
                            key=lambda j: -j.severity()))

    def of(self, outcome: Outcome) -> tuple[Judgement, ...]:
        return tuple(j for j in self.judgements if j.outcome is outcome)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    def summary(self) -> str:
        """One line: how many workloads passed, breached, had too little traffic."""
        if self.outcome is Outcome.UNAVAILABLE:
            return f"no verdict: the metrics source failed ({self.error})"
        counts = [(len(self.of(o)), label) for o, label in (
            (Outcome.BREACHED, "breached"), (Outcome.PASSED, "passed"),
            (Outcome.NO_VERDICT, "too little traffic"))]
        parts = [f"{n} {label}" for n, label in counts if n]
        return ", ".join(parts) or "no workloads to judge"

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "error": self.error,
                "judgements": [_judgement_json(j) for j in self.judgements]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(Outcome(data["outcome"]),
                   tuple(_judgement_from_json(j) for j in data.get("judgements", ())),
                   str(data.get("error", "")))

    @classmethod
    def unavailable(cls, error: str) -> Verdict:
        return cls(Outcome.UNAVAILABLE, (), error)


def compare(before: Figures, after: Figures, workloads: Iterable[WorkloadKey],
            thresholds: Thresholds, seconds: float) -> Verdict:
    """Judge each of `workloads`; one breach breaches the whole, and a whole with nothing
    judged (every workload too quiet) is no verdict."""
    judgements = tuple(judge(w, before.get(w, Signals.silent(seconds)),
                             after.get(w, Signals.silent(seconds)), thresholds)
                       for w in sorted(set(workloads)))
    outcomes = {j.outcome for j in judgements}
    if Outcome.BREACHED in outcomes:
        outcome = Outcome.BREACHED
    elif Outcome.PASSED in outcomes:
        outcome = Outcome.PASSED
    else:
        outcome = Outcome.NO_VERDICT
    return Verdict(outcome, judgements)


def _judgement_json(j: Judgement) -> dict[str, Any]:
    return {"workload": str(j.workload), "outcome": j.outcome.value,
            "before": j.before.to_json(), "after": j.after.to_json(), "reasons": list(j.reasons)}


def _judgement_from_json(data: Mapping[str, Any]) -> Judgement:
    return Judgement(WorkloadKey.parse(data["workload"]), Outcome(data["outcome"]),
                     Signals.from_json(data["before"]), Signals.from_json(data["after"]),
                     tuple(data.get("reasons", ())))

