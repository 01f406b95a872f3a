"""The App Home tab during a run: bob opens it and sees the run, its phase in words, a link to
its card and the approval waiting for him; when the run moves on, his tab is republished."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.slack.buttons import phase_label
from bot.upgrade.phases import Phase
from tests.e2e.slack_harness import ALICE, BOB, CAROL, running_bot, texts, wait_until


def home_text(h: Any, user: str) -> str:
    view = h.sim.slack.home(user)
    return texts({"blocks": view["blocks"]}) if view else ""


def test_bob_opens_home_during_a_run_and_it_follows_the_run(tmp_path: Path) -> None:
    with running_bot(tmp_path) as h:
        h.command(ALICE, "start aks-sandbox")
        h.wait_button("approve-start")
        opened = h.sim.slack.open_home(BOB)
        assert opened["acked"] and opened["ack_ms"] < 3000
        shown = wait_until(lambda: "Waiting for your approval" in (t := home_text(h, BOB))
                           and "*start* on *aks-sandbox*" in t and t, what="bob's home")
        run = h.run()
        assert phase_label(Phase.PLANNED) in shown and "asked by <@U0ALICE>" in shown
        assert "https://" in shown and f"|run {run.id}>" in shown
        assert "*aks-sandbox*" in shown and "Revisions:" in shown
        assert "Nothing waits for you." not in shown
        publishes = len(h.sim.slack.calls("views.publish"))
        h.click(BOB, "approve-start")
        h.wait_phase(Phase.CANARY_READY)
        moved = wait_until(lambda: phase_label(Phase.CANARY_READY) in (t := home_text(h, BOB))
                           and t, what="bob's home after the phase changed")
        assert "*start* on *aks-sandbox*" not in moved
        calls = h.sim.slack.calls("views.publish")
        assert len(calls) > publishes and all(c["ok"] for c in calls)
        assert {c["params"]["user_id"] for c in calls} == {BOB}  # only who opened Home
        assert h.sim.slack.home(CAROL) is None
