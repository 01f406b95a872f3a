"""A small engine process for the crash tests: advances the cluster's active run until it ends,
approving each waiting phase's action as `--final` says (start, roll, then complete or rollback).

    python -m tests.e2e.engine_driver --config bot.yaml --cluster aks-sandbox --final complete

ARM is reached as the bot wires it (MESH_UPGRADE_ARM_* and the Azure identity in the
environment, tests/sim_bot.py `bot_env`). Exit 0 when the
run is over, 3 when it waits for a person. The tests kill it with SIGKILL and start it again.
"""

from __future__ import annotations

import argparse
import sys
import time

from bot.azure.connect import ArmEndpoint
from bot.cli.wiring import build_workflow
from bot.config.settings import load_config
from bot.upgrade.phases import Action, Phase
from bot.workflow.steps import Wait

APPROVER = "U0APPROVER"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--cluster", required=True)
    p.add_argument("--final", choices=["complete", "rollback"], default="complete")
    args = p.parse_args()
    answers = {Phase.PLANNED: Action.START, Phase.CANARY_READY: Action.ROLL,
               Phase.AWAITING_DECISION: Action(args.final)}
    workflow = build_workflow(load_config(args.config),
                              arm=ArmEndpoint.from_env())
    run = workflow.store.active_run(args.cluster)
    if run is None:
        return 0
    while True:
        result = workflow.advance(run.id)
        print(result.phase, result.wait, result.did, flush=True)
        if result.wait is Wait.DONE:
            return 0
        if result.wait is Wait.PERSON:
            return 3
        if result.wait is Wait.APPROVAL:
            current = workflow.store.get_run(run.id)
            workflow.approve(run.id, answers[current.phase], APPROVER, current.version)
        elif result.wait is not Wait.NO:
            time.sleep(min(result.delay, 0.05))


if __name__ == "__main__":
    sys.exit(main())
