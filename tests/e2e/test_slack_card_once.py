"""The run's card is posted once, even when the bot dies between posting it and saving its ts.

The crash window is reproduced exactly: the bot posts the card, stops, and the saved ts is
taken out of the store (the row a crash before `set_slack_ref` never writes). The bot started
next finds the card in the channel by the nonce in its message metadata, edits it, and the
run goes on from that card; nothing else is posted as a root message.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, delete

from bot.config.settings import SlackMode
from bot.store.tables import SlackRefRow
from bot.upgrade.phases import Phase
from tests.e2e.slack_harness import ALICE, BOB, bot_for, running_bot, texts, wait_until


def _forget_card_ts(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(delete(SlackRefRow))
    engine.dispose()


def test_card_posted_before_a_crash_is_found_again_and_not_posted_twice(tmp_path: Path) -> None:
    with running_bot(tmp_path) as h:
        h.command(ALICE, "start aks-sandbox")
        card = h.wait_button("approve-start")
        run = h.run()
        assert card["metadata"] == {"event_type": "mesh_upgrade_card",
                                    "event_payload": {"run_id": run.id, "nonce": card[
                                        "metadata"]["event_payload"]["nonce"]}}
        h.bot.stop()
        wait_until(lambda: not h.sim.slack.configure_app()["socket_connections"], 10,
                   "the first bot to disconnect")
        _forget_card_ts(h.database_url)
        assert h.bot.services.store.slack_ref(run.id) is None
        second = bot_for(h.sim, h.database_url, SlackMode.SOCKET)
        second.start()
        try:
            ref = wait_until(lambda: second.services.store.slack_ref(run.id), 15,
                             "the card found again")
            assert ref.root_ts == card["ts"]
            h.bot = second
            h.click(BOB, "approve-start")
            h.wait_phase(Phase.STARTING, timeout=20)
            h.wait_card("Starting")
        finally:
            second.stop()
        history = h.sim.slack.calls("conversations.history")
        assert history and all(c["ok"] for c in history)
        roots = [m for m in h.messages()["messages"] if "Mesh upgrade ·" in texts(m)]
        assert [m["ts"] for m in roots] == [card["ts"]]
        posts = h.sim.slack.calls("chat.postMessage")
        assert [c for c in posts if not c["params"].get("thread_ts")] == posts[:1]
