"""`/mesh-upgrade` with no arguments: the clusters the channel owns, each with its run in
words, and the commands people need most, instead of usage text."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.slack_harness import ALICE, BOB, running_bot


def test_a_bare_command_answers_with_the_channels_clusters_and_three_commands(
        tmp_path: Path) -> None:
    with running_bot(tmp_path) as h:
        before = h.command(ALICE, "")
        assert before["acked"]
        answer = h.wait_ephemeral(ALICE, "Clusters this channel owns")
        assert "aks-sandbox" in answer and "no run" in answer
        for command in ("plan aks-sandbox", "start aks-sandbox", "check aks-sandbox", "help"):
            assert f"/mesh-upgrade {command}" in answer
        assert "Usage" not in answer
        h.command(ALICE, "start aks-sandbox")
        h.wait_button("approve-start")
        h.command(BOB, "")
        during = h.wait_ephemeral(BOB, "run 1")
        assert "run 1 (upgrade asm-1-22 → asm-1-23) is planned: waiting for approval to start" \
            in during
