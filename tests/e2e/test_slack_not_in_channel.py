"""A cluster whose channel the bot was never invited to: the requester is told to invite it,
and nothing is posted or changed in the cluster."""

from __future__ import annotations

from pathlib import Path

from meshsim.slack import seed
from tests.e2e.slack_harness import ALICE, running_bot
from tests.integration.conftest_workflow import OLD, namespace_labels


def test_start_in_a_channel_without_the_bot_asks_to_invite_it(tmp_path: Path) -> None:
    with running_bot(tmp_path, cluster={"channel": seed.RANDOM_CHANNEL}) as h:
        kube = h.sim.clusters["aks-sandbox"]
        h.command(ALICE, "start aks-sandbox")
        answer = h.wait_ephemeral(ALICE, "/invite")
        assert f"<#{seed.RANDOM_CHANNEL}>" in answer and "not_in_channel" in answer
        assert h.sim.slack.messages(seed.RANDOM_CHANNEL)["messages"] == []
        assert kube.revisions() == [OLD] and namespace_labels(kube)["default"] == OLD
