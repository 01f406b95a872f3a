"""What a person is told about a command a restart cut off: carried out or not, once."""

from __future__ import annotations

from pathlib import Path

from bot.config.settings import BotConfig
from bot.runtime.intents import recover_intents, what_became_of
from bot.store.repository import create_store
from bot.upgrade.kinds import AuditKind

CONFIG = BotConfig.model_validate({"clusters": [{
    "name": "aks-prod", "subscription_id": "00000000-0000-0000-0000-000000000001",
    "resource_group": "rg", "cluster_name": "aks-prod", "channel": "C0OPS",
    "approvals": {"default": {"users": ["U0BOB"]}}}]})


class _Answers:
    """Stands for the notifier: records what would be sent to each response_url."""

    def __init__(self) -> None:
        self.sent: list[tuple[str | None, str]] = []

    def respond(self, url: str | None, text: str) -> None:
        self.sent.append((url, text))


def test_an_intent_whose_work_landed_is_reported_as_carried_out(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path / 'bot.db'}")
    intent = store.record_intent("U0ALICE", "rollback aks-prod", "aks-prod", "http://r", "dead")
    store.audit("U0ALICE", AuditKind.REQUESTED, "requested rollback", cluster="aks-prod",
                detail={"action": "rollback"})
    (open_one,) = store.open_intents()
    assert open_one.id == intent
    text = what_became_of(store, open_one)
    assert "it was carried out: requested rollback" in text


def test_an_orphaned_intent_is_answered_once_and_closed(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.record_intent("U0ALICE", "start aks-prod", "aks-prod", "http://r", "a-dead-process")
    answers = _Answers()
    assert recover_intents(store, answers, CONFIG) == 1  # type: ignore[arg-type]
    assert recover_intents(store, answers, CONFIG) == 0  # type: ignore[arg-type]
    ((url, text),) = answers.sent
    assert url == "http://r" and "was not carried out" in text and "run it again" in text
    assert store.open_intents() == ()
