"""Change windows through Slack: the start waits for the cluster's window and runs when it
opens; after it closes, a rollback waits too, until an approver rolls back now with a reason,
which is audited. The workflow's clock is moved (its `now` seam), the rest runs as it would."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.schedule.windows import DAYS
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Phase
from meshsim.sim import RESOURCE_GROUP, SUBSCRIPTION
from tests.e2e.slack_harness import (
    ALICE,
    BOB,
    CAROL,
    Clock,
    Harness,
    running_bot,
    texts,
    wait_until,
)

CLUSTER, OLD, NEW = "aks-sandbox", "asm-1-22", "asm-1-23"


def _revisions(h: Harness) -> list[str]:
    state = h.sim.arm.cluster_state(SUBSCRIPTION, RESOURCE_GROUP, CLUSTER)
    return list(state["revisions"])


def _reply(h: Harness, part: str) -> str:
    return str(wait_until(lambda: next((texts(r) for r in h.replies() if part in texts(r)),
                                       None), 30, f"a reply with {part!r}"))


def test_the_start_waits_for_its_window_and_a_rollback_now_goes_outside_one(
        tmp_path: Path) -> None:
    real = datetime.now(UTC)
    opens = (real + timedelta(hours=2)).replace(second=0, microsecond=0)
    window = {"timezone": "UTC", "weekly": [{"days": [DAYS[opens.weekday()]],
                                             "start": opens.strftime("%H:%M"),
                                             "duration": "1h"}]}
    with running_bot(tmp_path, cluster={"change_windows": window}) as h:
        clock = Clock()
        h.bot.services.workflow.now = clock
        h.command(ALICE, f"start {CLUSTER}")
        h.wait_button("approve-start")
        h.click(BOB, "approve-start")
        card = texts(h.wait_card("Waiting for the change window"))
        assert "to run the start" in card and f"rollback-now {CLUSTER}" in card
        said = _reply(h, "Waiting for the change window to run the start")
        assert "Plans, checks and approvals go on" in said
        time.sleep(1.5)
        assert h.run().phase is Phase.STARTING and _revisions(h) == [OLD]  # nothing sent

        clock.offset = opens - real + timedelta(minutes=1)  # the window is open
        h.bot.services.driver.poke(h.run().id)
        h.wait_phase(Phase.CANARY_READY, timeout=60)
        assert _revisions(h) == [OLD, NEW]
        assert "change window" not in texts(h.card())

        clock.offset = opens - real + timedelta(hours=1, minutes=5)  # and closed again
        h.wait_button("approve-rollback")
        h.click(BOB, "approve-rollback")
        h.wait_phase(Phase.ROLLING_BACK)
        assert "the rollback's ARM change" in texts(h.wait_card("Waiting for the change window"))
        time.sleep(1.5)
        assert _revisions(h) == [OLD, NEW]

        h.command(CAROL, f"rollback-now {CLUSTER} the canary breaks checkout for EU users")
        h.wait_ephemeral(CAROL, "Rolling back")
        h.wait_phase(Phase.ROLLED_BACK, timeout=60)
        assert _revisions(h) == [OLD]
        audit = h.bot.services.store.audit_log(run_id=h.run().id)
        [now] = [e for e in audit if e.kind is AuditKind.WINDOW_OVERRIDDEN]
        assert now.actor == CAROL
        assert now.detail["reason"] == "the canary breaks checkout for EU users"
        assert "chose to roll back now" in "\n".join(texts(r) for r in h.replies())


def test_rollback_now_needs_a_reason_and_an_approver(tmp_path: Path) -> None:
    window = {"timezone": "UTC", "freezes": [{"start": "2020-01-01", "end": "2099-12-31",
                                              "reason": "a freeze for this test"}]}
    with running_bot(tmp_path, cluster={"change_windows": window}) as h:
        h.command(ALICE, f"start {CLUSTER}")
        h.wait_button("approve-start")
        h.click(BOB, "approve-start")
        assert "frozen: a freeze for this test" in texts(h.wait_card("Waiting for the change"))
        answer = h.command(CAROL, f"rollback-now {CLUSTER}")
        assert "needs a reason" in str(answer)
        h.command("U0MALLORY", f"rollback-now {CLUSTER} because I say so, really")
        h.wait_ephemeral("U0MALLORY", "Nothing was done")
        assert h.run().phase is Phase.STARTING
