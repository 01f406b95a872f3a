"""Whole upgrades through the simulated Slack channel, acting as the seeded users.

alice asks, her own approval and mallory's are refused, bob and carol approve; the card, the
thread (steps, checks, charts) and the simulated cluster show the outcome. Clicks on old
versions of the card change nothing.
"""

from __future__ import annotations

from pathlib import Path

from bot.upgrade.phases import Phase
from tests.e2e.slack_harness import ALICE, BOB, CAROL, MALLORY, Harness, running_bot, texts
from tests.integration.conftest_workflow import NEW, OLD, Env, assert_only_on, tags


def _env(h: Harness) -> Env:
    return Env(h.sim, h.bot.services.workflow, h.bot.services.store)


def _start_and_roll(h: Harness) -> None:
    answer = h.command(ALICE, "start aks-sandbox")
    assert answer["acked"] and answer["ack_ms"] < 3000
    h.wait_button("approve-start")
    h.click(ALICE, "approve-start")
    assert "asked for this" in h.wait_ephemeral(ALICE, "Nothing was done")
    h.click(MALLORY, "approve-start")
    assert "not an approver" in h.wait_ephemeral(MALLORY, "Nothing was done")
    assert h.run().phase is Phase.PLANNED
    h.click(BOB, "approve-start")
    h.wait_phase(Phase.CANARY_READY)
    h.wait_button("approve-roll")
    h.click(CAROL, "approve-roll")


def test_alice_starts_bob_and_carol_approve_and_bob_completes(tmp_path: Path) -> None:
    with running_bot(tmp_path) as h:
        _start_and_roll(h)
        card = h.wait_button("approve-complete", timeout=40)
        complete = next(e for b in card["blocks"] if b["type"] == "actions"
                        for e in b["elements"] if e["action_id"] == "approve-complete")
        assert complete["confirm"]["confirm"]["text"] == "Complete"
        h.click(BOB, "approve-complete")
        h.wait_phase(Phase.COMPLETED)
        assert_only_on(_env(h), keep=NEW, gone=OLD)
        assert tags(h.sim.clusters["aks-sandbox"]) == {"prod-stable": NEW}
        card = h.wait_card("Completed")
        shown = texts(card)
        assert "actions" not in {b["type"] for b in card["blocks"]}
        for who, what in ((BOB, "start"), (CAROL, "roll"), (BOB, "complete")):
            assert f"{what} by <@{who}>" in shown
        replies = [texts(r) for r in card["replies"]]
        assert any(r.startswith("Check · aks-sandbox") for r in replies)
        assert any(f.get("mimetype") == "image/png" or f.get("name", "").endswith(".png")
                   for r in card["replies"] for f in r.get("files", []))
        assert any(f"<@{ALICE}> clicked *Start upgrade*; nothing was done: whoever asked" in r
                   for r in replies)
        assert any(f"<@{MALLORY}> clicked *Start upgrade*; nothing was done: they are not an "
                   "approver" in r for r in replies)
        assert len(h.cards()) == 1
        refusals = [e for e in h.bot.services.store.audit_log(run_id=h.run().id)
                    if e.what.startswith("refused")]
        assert {e.actor for e in refusals} == {ALICE, MALLORY}


def test_rollback_after_the_soak_brings_everything_back(tmp_path: Path) -> None:
    with running_bot(tmp_path) as h:
        _start_and_roll(h)
        card = h.wait_button("approve-complete", timeout=40)
        rollback = next(e for b in card["blocks"] if b["type"] == "actions"
                        for e in b["elements"] if e["action_id"] == "approve-rollback")
        assert rollback["confirm"]["confirm"]["text"] == "Roll back"
        h.click(CAROL, "approve-rollback")
        h.wait_phase(Phase.ROLLED_BACK, timeout=40)
        assert_only_on(_env(h), keep=OLD, gone=NEW)
        assert "rollback by <@U0CAROL>" in texts(h.wait_card("Rolled back"))


def test_double_and_stale_clicks_change_nothing(tmp_path: Path) -> None:
    with running_bot(tmp_path) as h:
        h.command(ALICE, "start aks-sandbox")
        h.wait_button("approve-start")
        h.click(BOB, "approve-start", edit=0)
        h.wait_phase(Phase.CANARY_READY)
        run = h.run()
        audit_before = len(h.bot.services.store.audit_log(run_id=run.id))
        # The same click again (a double click) and carol on the first look of the card.
        h.click(BOB, "approve-start", edit=0)
        assert "changed nothing more" in h.wait_ephemeral(BOB, "Your approval of *start*")
        h.click(CAROL, "approve-start", edit=0)
        assert "Already approved by <@U0BOB>" in h.wait_ephemeral(CAROL, "Nothing was done")
        h.wait_button("approve-roll")
        versions = len(h.card()["history"])
        h.click(CAROL, "approve-rollback", edit=versions - 1)  # a real rollback button ...
        h.wait_phase(Phase.ROLLING_BACK)
        h.click(BOB, "approve-roll", edit=versions - 1)  # ... makes roll on that look stale
        assert "Nothing was done" in h.wait_ephemeral(BOB, "out of date")
        h.wait_phase(Phase.ROLLED_BACK, timeout=40)
        after = h.bot.services.store.audit_log(run_id=run.id)
        assert [e.what for e in after[audit_before:] if e.what.startswith("approved")] == \
            ["approved rollback"]
        assert len(h.cards()) == 1
