"""The App Home view, rendered from plain lines: empty states, what waits for the reader,
and a huge workspace still within Slack's 100 blocks of a home view."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.slack.home import ClusterLine, HomeView, RunLine, WaitingLine, render_home
from bot.upgrade.phases import Action, Phase
from meshsim.slack.homes import _view_errors

T0 = datetime(2026, 12, 4, 9, 41, tzinfo=UTC)


def _text(view: dict[str, object]) -> str:
    return str(view)


def run(i: int, phase: Phase = Phase.AWAITING_DECISION) -> RunLine:
    return RunLine(i, f"aks-{i}", "asm-1-22", "asm-1-23", phase, "U0ALICE", T0,
                   f"https://slack.example/archives/C0MESHOPS/p{i}")


def test_an_empty_home_says_so_in_words_and_is_a_valid_home_view() -> None:
    view = render_home(HomeView("U0BOB", (ClusterLine("aks-1", "C0MESHOPS"),), (), (), (), T0))
    assert _view_errors(view) == []
    text = _text(view)
    assert "Nothing waits for you." in text and "No upgrade is running." in text
    assert "not read yet" in text and "<@U0BOB>" in text


def test_the_approval_waiting_for_the_reader_links_to_the_card() -> None:
    active = run(7, Phase.PLANNED)
    view = render_home(HomeView("U0BOB", (), (active,), (WaitingLine(active, Action.START, 0, 1),),
                                (), T0))
    text = _text(view)
    assert "*start* on *aks-7*" in text and "0 of 1 approval(s)" in text
    assert "<https://slack.example/archives/C0MESHOPS/p7|run 7>" in text
    assert "planned" not in text.replace("Planned", "")  # the phase in words, not its name


def test_a_huge_workspace_stays_within_a_home_views_hundred_blocks() -> None:
    clusters = tuple(ClusterLine(f"aks-{i}", "C0MESHOPS", ("asm-1-22",), {"1.22.5": 10},
                                 ("asm-1-23",), T0) for i in range(60))
    runs = tuple(run(i) for i in range(40))
    waiting = tuple(WaitingLine(r, Action.COMPLETE, 1, 2) for r in runs)
    view = render_home(HomeView("U0BOB", clusters, runs, waiting, runs, T0))
    assert _view_errors(view) == []
    assert len(view["blocks"]) <= 100  # type: ignore[arg-type]
