"""The traffic gates' rules: a breach, a pass, too little traffic, and what sums a wave up."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.traffic.signals import Signals, Window, WorkloadKey, figures_from_json, figures_to_json
from bot.traffic.verdicts import Outcome, Thresholds, Verdict, compare, judge

T = Thresholds()  # 1 point of success, +20 % and +50 ms of p99, 100 requests
W = WorkloadKey("bookinfo", "reviews-v2")


def sig(requests: float, errors: float = 0.0, p99: float | None = 20.0) -> Signals:
    return Signals(requests, errors, p99, 60.0)


def test_a_drop_of_more_than_one_point_of_success_is_a_breach() -> None:
    j = judge(W, sig(1000, 2), sig(1000, 40), T)
    assert j.outcome is Outcome.BREACHED
    assert j.reasons == ("success rate 99.80% -> 96.00% (-3.80 points, at most 1)",)


def test_a_drop_within_the_threshold_passes() -> None:
    assert judge(W, sig(1000, 2), sig(1000, 10), T).outcome is Outcome.PASSED


def test_p99_must_grow_by_both_the_fraction_and_the_milliseconds() -> None:
    assert judge(W, sig(1000, p99=5), sig(1000, p99=50), T).outcome is Outcome.PASSED  # +45 ms
    assert judge(W, sig(1000, p99=400), sig(1000, p99=470), T).outcome is Outcome.PASSED
    slow = judge(W, sig(1000, p99=20), sig(1000, p99=270), T)
    assert slow.outcome is Outcome.BREACHED and "p99 20 ms -> 270 ms" in slow.reasons[0]


def test_traffic_falling_to_zero_is_a_breach_not_a_quiet_workload() -> None:
    j = judge(W, sig(1000), Signals.silent(60), T)
    assert j.outcome is Outcome.BREACHED and "fell to zero" in j.reasons[0]


def test_too_little_traffic_on_either_side_is_no_verdict() -> None:
    assert judge(W, sig(50), sig(50, 50), T).outcome is Outcome.NO_VERDICT
    assert judge(W, sig(1000), sig(99), T).outcome is Outcome.NO_VERDICT


def test_one_breach_breaches_the_wave_and_the_worst_comes_first() -> None:
    a, b, c = (WorkloadKey("shop", n) for n in ("a", "b", "c"))
    before = {a: sig(1000), b: sig(1000), c: sig(1000)}
    after = {a: sig(1000, 30), b: sig(1000, 300), c: sig(1000)}
    v = compare(before, after, [a, b, c], T, 60)
    assert v.outcome is Outcome.BREACHED
    assert [j.workload for j in v.breaches] == [b, a]
    assert v.summary() == "2 breached, 1 passed"


def test_a_wave_of_only_quiet_workloads_is_no_verdict_never_a_pass() -> None:
    v = compare({W: sig(10)}, {W: sig(10)}, [W], T, 60)
    assert v.outcome is Outcome.NO_VERDICT and not v.passed
    assert v.summary() == "1 too little traffic"


def test_a_workload_missing_from_both_windows_is_judged_silent() -> None:
    v = compare({}, {}, [W], T, 60)
    assert v.judgements[0].outcome is Outcome.NO_VERDICT


def test_an_unavailable_source_is_never_a_pass() -> None:
    v = Verdict.unavailable("Prometheus at http://x: timed out after 10 s")
    assert not v.passed and "timed out" in v.summary()


def test_verdicts_and_figures_survive_the_step_state_json() -> None:
    v = compare({W: sig(1000, 1)}, {W: sig(1000, 300, p99=None)}, [W], T, 60)
    assert Verdict.from_json(v.to_json()) == v
    figures = {W: sig(5, 1)}
    assert figures_from_json(figures_to_json(figures)) == figures
    end = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
    assert Window.from_json(Window(end, 30).to_json()) == Window(end, 30)
