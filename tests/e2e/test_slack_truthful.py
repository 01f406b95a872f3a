"""What people are told is what was committed (issue 10, recipe 4): a Slack failure right after
an approval is applied does not turn it into "something went wrong", and the thread's replies
are delayed by it, never lost."""

from __future__ import annotations

from pathlib import Path

from bot.slack.wording.phrases import Subject
from bot.slack.wording.runs import reply_of
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Phase
from tests.e2e.slack_harness import ALICE, BOB, CAROL, running_bot, texts, wait_until


def test_a_slack_5xx_after_an_applied_roll_is_answered_truthfully_and_loses_no_reply(
        tmp_path: Path) -> None:
    with running_bot(tmp_path) as h:
        h.command(ALICE, "start aks-sandbox")
        h.wait_button("approve-start")
        h.click(BOB, "approve-start")
        h.wait_phase(Phase.CANARY_READY)
        h.wait_button("approve-roll")
        # Every thread reply and card edit fails for a moment, right as carol's roll lands.
        for method in ("chat.postMessage", "chat.update"):
            h.sim.slack.faults.add(verb="POST", path=f"/api/{method}", status=500, count=3)

        h.click(CAROL, "approve-roll")

        answer = h.wait_ephemeral(CAROL, "approved")
        assert "Something went wrong" not in answer and "Nothing" not in answer
        assert h.run().phase in (Phase.ROLLING, Phase.VERIFYING, Phase.AWAITING_DECISION)
        assert sum(rule["hits"] for rule in h.sim.slack.faults.rules()) >= 1  # Slack did fail
        h.sim.slack.faults.clear()
        store = h.bot.services.store
        run_id = h.run().id
        subject = Subject.of(h.run())
        wanted = [reply_of(e, subject)[1] for e in store.audit_log(run_id=run_id)
                  if e.kind in (AuditKind.APPROVED, AuditKind.PHASE_CHANGED)]

        def every_entry_replied() -> bool:
            h.bot.services.notifier.sync(run_id)
            shown = "\n".join(r.get("text", "") for r in h.replies())
            return all(what in shown for what in wanted)

        wait_until(every_entry_replied, 30, "every approval and phase change in the thread")
        assert any(f"<@{CAROL}> approved rolling out the workloads" in texts(r)
                   for r in h.replies())
