"""Approval requests that nobody answers: a reminder in the thread, then expiry on the card.

With a short policy (expires after 4 s, reminder 2 s before), alice's start request is
reminded, then expires: the card says "approval expired — click to request again" and the
button reads "Ask again". bob's click on the expired request asks for it again (the clock
restarts) without approving it; his next click approves the renewed request.
"""

from __future__ import annotations

from pathlib import Path

from bot.cli.sandbox import APPROVERS
from bot.upgrade.phases import Phase
from tests.e2e.slack_harness import ALICE, BOB, Harness, running_bot, texts, wait_until

POLICY = {"default": {"groups": [APPROVERS], "expires_after": "4s", "remind_before": "2s"}}


def _reply_index(h: Harness, part: str, timeout: float = 10.0) -> int:
    return int(wait_until(lambda: next((i + 1 for i, r in enumerate(h.replies())
                                        if part in texts(r)), None), timeout,
                          f"a thread reply with {part!r}")) - 1


def test_unanswered_request_is_reminded_then_expires_and_a_click_asks_for_it_again(
        tmp_path: Path) -> None:
    with running_bot(tmp_path, cluster={"approvals": POLICY}) as h:
        h.command(ALICE, "start aks-sandbox")
        h.wait_button("approve-start")
        reminder = _reply_index(h, "Reminder: starting the upgrade on `aks-sandbox`")
        assert "The request expires at" in texts(h.replies()[reminder])
        card = h.wait_card("approval expired", timeout=10)
        assert "click to request again" in texts(card)
        assert "Ask again: Start upgrade" in texts(card)
        assert _reply_index(h, "Nobody approved starting the upgrade in time") > reminder
        assert h.run().phase is Phase.PLANNED

        h.click(BOB, "approve-start")
        answer = h.wait_ephemeral(BOB, "had expired")
        assert "Click the button again to approve it" in answer
        assert h.run().phase is Phase.PLANNED
        assert not h.bot.services.store.approvals(h.run().id, "start", h.run().version)
        h.wait_card("Start upgrade")
        assert "approval expired" not in texts(h.wait_button("approve-start"))

        h.click(BOB, "approve-start")
        wait_until(lambda: h.run().phase is not Phase.PLANNED, 10, "the start")
        audit = [e.what for e in h.bot.services.store.audit_log(run_id=h.run().id)]
        assert audit.count("requested start") == 1 and "approved start" in audit
