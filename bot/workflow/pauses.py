"""How a step that cannot go on waits: tried again in place, paused for a person, or failed.

A transient error (RetryLater) is retried in place up to RETRY_PATIENCE times; then the run is
paused and the bot keeps trying on its own, less and less often (AUTO_RETRY_FIRST doubling up
to AUTO_RETRY_MOST), saying in the pause note when it tries next. Any pause can be retried at
once from the card (Retry now) or left (Cancel, or Roll back where safe): no pause is a dead end.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store.repository import Store
from bot.upgrade.errors import GiveUp, MeshUpgradeError, RetryLater
from bot.upgrade.kinds import AuditKind, StepKind
from bot.upgrade.phases import Event
from bot.upgrade.records import Run
from bot.workflow.steps import (
    AUTO_RETRY_KEY,
    RETRY_PATIENCE,
    Ctx,
    OperationFailed,
    StepResult,
    Wait,
)

AUTO_RETRY_FIRST = 60.0  # seconds
AUTO_RETRY_MOST = 900.0


def retry_later(ctx: Ctx, exc: RetryLater) -> StepResult:
    tries = int(ctx.get("retries") or 0) + 1
    ctx.put("retries", tries)
    if tries <= RETRY_PATIENCE:
        return ctx.result(StepKind.RETRY, f"will retry: {exc.message}", Wait.TIME,
                          exc.delay_seconds)
    delay = min(AUTO_RETRY_FIRST * 2 ** (tries - RETRY_PATIENCE - 1), AUTO_RETRY_MOST)
    at = ctx.now() + timedelta(seconds=delay)
    hint = (f"The bot tries again at {at:%H:%M:%S} UTC, then less often. Once the cause is "
            "gone, Retry now on the card tries at once; Cancel (or Roll back) gives the "
            "cluster back.")
    return pause(ctx, GiveUp(f"Still failing after {tries - 1} tries: {exc.message}", hint),
                 retry_at=at)


def pause(ctx: Ctx, exc: MeshUpgradeError, retry_at: datetime | None = None) -> StepResult:
    """Pause the run with `exc` as its note; with `retry_at` the bot tries again then on its
    own, without it the pause waits for a person (an earlier planned retry is dropped)."""
    if retry_at is None:
        ctx.store.release_step(ctx.run.id, AUTO_RETRY_KEY)
    else:
        ctx.store.put_step(ctx.run.id, AUTO_RETRY_KEY, retry_at.isoformat())
    run = ctx.store.get_run(ctx.run.id)
    ctx.store.set_pause(run.id, run.version, exc.message, exc.hint)
    ctx.audit(AuditKind.PAUSED, "paused", {"reason": exc.message, "hint": exc.hint})
    if retry_at is None:
        return ctx.result(StepKind.PAUSE, f"paused: {exc.message}", Wait.PERSON)
    return ctx.result(StepKind.PAUSE, f"paused: {exc.message}", Wait.TIME,
                      (retry_at - ctx.now()).total_seconds())


def fail(ctx: Ctx, exc: OperationFailed) -> StepResult:
    ctx.move(Event.FAIL, exc.message)
    ctx.store.set_pause(ctx.run.id, ctx.run.version, exc.message, exc.hint)
    return ctx.result(StepKind.FAIL, f"failed: {exc.message}", Wait.PERSON)


def auto_retry_in(store: Store, run: Run, now: datetime) -> float | None:
    """Seconds until the bot tries the paused step of `run` again on its own (<= 0: now);
    None when the pause waits for a person."""
    at = store.step(run.id, AUTO_RETRY_KEY)
    return None if at is None else (datetime.fromisoformat(at) - now).total_seconds()


def stepped(ctx: Ctx) -> None:
    """A step went through: its retry count and any planned retry of a pause are over."""
    if ctx.get("retries"):
        ctx.put("retries", 0)
        ctx.store.release_step(ctx.run.id, AUTO_RETRY_KEY)
