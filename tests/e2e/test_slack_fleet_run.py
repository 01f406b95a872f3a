"""A fleet run through the simulated Slack on the `fleet` scenario: eight clusters in three
rings (dev, staging, prod), one already on the target and one that needs a Kubernetes upgrade.

Each cluster goes through its own card and approvals; the fleet card follows, ring by ring,
and promotion needs the fleet's approvers after each ring's soak. A rollback in a ring stops
the fleet with the next ring untouched, and a bot restarted mid-fleet carries on with the same
cards, doing nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config.settings import SlackMode
from bot.fleet.runs import FleetPhase, MemberState
from bot.runtime.bot import Bot
from bot.schedule.windows import DAYS
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Phase
from meshsim.sim import MeshSim
from tests.e2e.fleet_harness import (
    FLEET,
    MOVING,
    TARGET,
    cards_agree,
    click_cluster,
    click_fleet,
    cluster_cards,
    fleet_card,
    fleet_cards,
    revisions,
    row,
    settle,
    upgrade,
    wait_phase,
)
from tests.e2e.slack_harness import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    MALLORY,
    SPEED,
    Clock,
    Harness,
    bot_for,
    running_bot,
    texts,
    wait_until,
)


def _started(h: Harness) -> None:
    h.command(ALICE, f"fleet start {FLEET} --to {TARGET}")
    assert "Fleet run 1 of `fleet`" in h.wait_ephemeral(ALICE, "started")


def _promote(sim: MeshSim, to: str) -> None:
    """alice (the requester) and mallory (no approver) are refused; bob promotes."""
    fleet_card(sim, f"Approve promotion to {to}")
    click_fleet(sim, ALICE, "promote")
    click_fleet(sim, MALLORY, "promote")
    settle(0.5)
    assert fleet_card(sim)["ts"]  # still one card
    click_fleet(sim, BOB, "promote")
    fleet_card(sim, f"ring {['dev', 'staging', 'prod'].index(to) + 1} of 3 (*{to}*)")


def test_a_fleet_is_promoted_ring_by_ring_to_the_end_across_a_restart(tmp_path: Path) -> None:
    with MeshSim("fleet", SPEED, tmp_path / "sim") as sim:
        url = f"sqlite:///{tmp_path / 'bot.db'}"
        bot = _running(sim, url)
        h = Harness(sim, bot, url)
        _started(h)
        store = bot.services.store
        card = fleet_card(sim, "Waits for `aks-dev-1`")
        assert "skipped: asm-1-24 supports Kubernetes 1.28 to 1.33" in row(card, "aks-prod-eus-2")
        assert "already on asm-1-24" in row(card, "aks-dev-2")
        assert "waits for its ring" in row(card, "aks-staging-1")
        assert store.recent_runs("aks-staging-1") == ()  # ring 2 waits for ring 1

        upgrade(sim, store, "aks-dev-1")
        card = fleet_card(sim, "Approve promotion to staging")
        fleet_id = store.fleets.recent(FLEET, 1)[0].id
        cards_agree(sim, store, fleet_id)
        assert "Completed" in row(card, "aks-dev-1") and "checks" in row(card, "aks-dev-1")
        assert "|aks-dev-1>" in row(card, "aks-dev-1")  # a link to the cluster's own card
        assert "not the requester" in texts(card)
        _promote(sim, "staging")
        replies = [texts(r) for r in fleet_card(sim).get("replies", [])]
        assert any("U0ALICE" in r and "does not count" in r for r in replies), replies
        assert any("U0MALLORY" in r and "not an approver" in r for r in replies), replies

        # Both staging clusters are planned at once (max_parallel 2); one completes, then the
        # bot is restarted while the other is under way.
        fleet_card(sim, "Waits for `aks-staging-1`, `aks-staging-2`")
        upgrade(sim, store, "aks-staging-1")
        click_cluster(sim, BOB, "aks-staging-2", "approve-start")
        wait_phase(store, "aks-staging-2", Phase.CANARY_READY)
        cards_agree(sim, store, fleet_id)
        card_ts = fleet_card(sim)["ts"]
        replies_before = len(fleet_card(sim).get("replies", []))
        bot.stop()
        bot = _running(sim, url)
        store = bot.services.store
        settle(1.5)
        assert fleet_card(sim)["ts"] == card_ts
        click_cluster(sim, CAROL, "aks-staging-2", "approve-roll")
        click_cluster(sim, BOB, "aks-staging-2", "approve-complete")
        wait_phase(store, "aks-staging-2", Phase.COMPLETED)
        _promote(sim, "prod")

        for cluster in ("aks-prod-weu-1", "aks-prod-weu-2"):
            upgrade(sim, store, cluster)
        upgrade(sim, store, "aks-prod-eus-1")  # the third starts when a slot frees
        card = fleet_card(sim, "Completed* · ring 3 of 3")
        cards_agree(sim, store, fleet_id)
        assert "Every ring is done" in texts(card)
        assert all(f"fleet-{a}" not in str(card["blocks"]) for a in ("promote", "pause"))

        fleet = store.fleets.recent(FLEET, 1)[0]
        assert fleet.phase is FleetPhase.COMPLETED and store.fleets.active(FLEET) is None
        states = {m.cluster: m.state for m in store.fleets.members(fleet.id)}
        assert states == {**dict.fromkeys(MOVING, MemberState.COMPLETED),
                          "aks-dev-2": MemberState.AT_TARGET,
                          "aks-prod-eus-2": MemberState.SKIPPED}
        for cluster in MOVING:  # one run and one card each, across the restart
            assert [r.phase for r in store.recent_runs(cluster)] == [Phase.COMPLETED]
            assert len(cluster_cards(sim, cluster)) == 1
            assert revisions(sim, cluster) == [TARGET]
            run = store.recent_runs(cluster)[0]
            assert (run.requested_by, run.options.get("fleet_run")) == (ALICE, fleet.id)
        assert revisions(sim, "aks-prod-eus-2") == ["asm-1-22"]
        assert len(fleet_cards(sim)) == 1
        audit = store.fleets.audit_log(fleet.id)
        replies = wait_until(lambda: (r := fleet_card(sim).get("replies", [])) and
                             len(r) >= len(audit) and r, 20, "every fleet reply")
        assert len(replies) == len(audit) > replies_before  # each entry once, none twice
        kinds = [e.kind for e in audit]
        assert kinds.count("promoted") == 2 and kinds.count("cluster_started") == 6
        assert kinds[-1] == "completed"
        bot.stop()


def test_a_rollback_in_ring_two_stops_the_fleet_and_ring_three_is_untouched(
        tmp_path: Path) -> None:
    with running_bot(tmp_path, scenario="fleet") as h:
        store = h.bot.services.store
        prod = ("aks-prod-weu-1", "aks-prod-weu-2", "aks-prod-eus-1")
        before = {c: revisions(h.sim, c) for c in (*prod, "aks-staging-1")}
        _started(h)
        upgrade(h.sim, store, "aks-dev-1")
        _promote(h.sim, "staging")
        click_cluster(h.sim, BOB, "aks-staging-1", "approve-start")
        wait_phase(store, "aks-staging-1", Phase.CANARY_READY)
        click_cluster(h.sim, BOB, "aks-staging-1", "approve-rollback")
        wait_phase(store, "aks-staging-1", Phase.ROLLED_BACK)

        card = fleet_card(h.sim, "Stopped")
        assert "aks-staging-1: its run rolled back" in texts(card)
        assert "stops the fleet" in row(card, "aks-staging-1")
        blocks = str(card["blocks"])
        assert "fleet-resume" in blocks and "fleet-cancel" in blocks
        assert "fleet-promote" not in blocks
        # aks-staging-2 goes on through its own card; the fleet still does not promote.
        upgrade(h.sim, store, "aks-staging-2")
        settle(1.5)
        card = fleet_card(h.sim, "Stopped")
        for cluster in prod:
            assert store.recent_runs(cluster) == ()
            assert revisions(h.sim, cluster) == before[cluster]
            assert "waits for its ring" in row(card, cluster)
        assert revisions(h.sim, "aks-staging-1") == before["aks-staging-1"]  # rolled back

        click_fleet(h.sim, MALLORY, "cancel")
        assert "may pause, resume or cancel" in h.wait_ephemeral(MALLORY, "Only the")
        h.command(BOB, "fleet status fleet")
        assert "Stopped" in h.wait_ephemeral(BOB, "Fleet fleet")
        h.command(BOB, "fleet resume fleet")  # aks-staging-1 gets a new run
        assert "goes on" in h.wait_ephemeral(BOB, "goes on")
        wait_until(lambda: len(store.recent_runs("aks-staging-1")) == 2, 30, "a new run")
        fleet_card(h.sim, "Waits for `aks-staging-1`")
        click_fleet(h.sim, CAROL, "cancel")
        card = fleet_card(h.sim, "Cancelled")
        assert "Runs under way go on" in h.wait_ephemeral(CAROL, "cancelled")
        assert "fleet-" not in str(card["blocks"])
        assert store.fleets.active(FLEET) is None
        assert all(store.recent_runs(c) == () for c in ("aks-prod-weu-1", "aks-prod-eus-1"))


def _running(sim: MeshSim, url: str) -> Bot:
    bot = bot_for(sim, url, SlackMode.SOCKET)
    bot.start()
    wait_until(lambda: sim.slack.configure_app()["socket_connections"], 10,
               "a Socket Mode connection")
    return bot


def test_a_fleet_waits_for_the_change_window_and_an_emergency_rollback_goes_outside_it(
        tmp_path: Path) -> None:
    real = datetime.now(UTC)
    opens = (real + timedelta(hours=2)).replace(second=0, microsecond=0)
    window = {"timezone": "UTC", "weekly": [{"days": [DAYS[opens.weekday()]],
                                             "start": opens.strftime("%H:%M"),
                                             "duration": "1h"}]}
    with running_bot(tmp_path, scenario="fleet", fleet={"change_windows": window}) as h:
        clock = Clock()
        h.bot.services.workflow.now = clock
        store = h.bot.services.store
        old = revisions(h.sim, "aks-dev-1")
        _started(h)
        click_cluster(h.sim, BOB, "aks-dev-1", "approve-start")
        card = fleet_card(h.sim, "Waiting for the change window")  # the fleet's default
        assert "_paused: Waiting for the change window" in row(card, "aks-dev-1")
        settle(1.5)
        assert revisions(h.sim, "aks-dev-1") == old  # nothing sent to ARM

        clock.offset = opens - real + timedelta(minutes=1)  # the window opens
        run = store.recent_runs("aks-dev-1", 1)[0]
        h.bot.services.driver.poke(run.id)
        wait_phase(store, "aks-dev-1", Phase.CANARY_READY)
        assert revisions(h.sim, "aks-dev-1") == [*old, TARGET]

        clock.offset = opens - real + timedelta(hours=1, minutes=5)  # and closes
        click_cluster(h.sim, BOB, "aks-dev-1", "approve-rollback")
        wait_phase(store, "aks-dev-1", Phase.ROLLING_BACK)
        fleet_card(h.sim, "the rollback's ARM change")
        h.command(CAROL, "rollback-now aks-dev-1 the canary breaks checkout for EU users")
        wait_phase(store, "aks-dev-1", Phase.ROLLED_BACK)
        assert revisions(h.sim, "aks-dev-1") == old
        [now] = [e for e in store.audit_log(run_id=run.id)
                 if e.kind is AuditKind.WINDOW_OVERRIDDEN]
        assert (now.actor, now.detail["reason"]) == (
            CAROL, "the canary breaks checkout for EU users")
        card = fleet_card(h.sim, "Stopped")
        assert "aks-dev-1: its run rolled back" in texts(card)
        assert store.recent_runs("aks-staging-1") == ()


def test_an_unanswered_promotion_is_reminded_then_expires_and_a_click_asks_again(
        tmp_path: Path) -> None:
    promotion = {"groups": ["S0MESHAPPR"], "required": 1,
                 "expires_after": timedelta(seconds=8), "remind_before": timedelta(seconds=4)}
    with running_bot(tmp_path, scenario="fleet", fleet={"promotion": promotion}) as h:
        store = h.bot.services.store
        _started(h)
        upgrade(h.sim, store, "aks-dev-1")
        card = fleet_card(h.sim, "Approve promotion to staging")
        assert "open until" in texts(card)

        def reply(part: str) -> str:
            return str(wait_until(lambda: next((texts(r) for r in fleet_card(h.sim).get(
                "replies", []) if part in texts(r)), None), 20, f"a reply with {part!r}"))

        reminded = reply("reminder: promotion to staging still needs approval")
        assert "@mesh-approvers" in reminded or "S0MESHAPPR" in reminded
        reply("expired: promotion to staging was not approved in time")
        fleet_card(h.sim, "the request expired at")
        click_fleet(h.sim, MALLORY, "promote")  # a stranger cannot renew it
        h.wait_ephemeral(MALLORY, "you are not an approver here")
        click_fleet(h.sim, BOB, "promote")  # bob's click asks again and counts for nothing
        assert "asked for it again" in h.wait_ephemeral(BOB, "asked for it again")
        card = fleet_card(h.sim, "open until")
        h.sim.slack.click(CAROL, CHANNEL, card["ts"], "fleet-promote")
        fleet_card(h.sim, "ring 2 of 3 (*staging*)")
        kinds = [e.kind for e in store.fleets.audit_log(store.fleets.recent(FLEET, 1)[0].id)]
        assert kinds.count("reminded") == 1 and kinds.count("expired") == 1
        assert kinds.count("promotion_asked") == 2 and kinds[-1] == "cluster_started"
