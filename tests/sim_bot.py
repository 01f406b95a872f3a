"""`mesh-upgrade-bot` as the tests run it against the simulated ARM.

The product reaches ARM only through azure-identity (DefaultAzureCredential); the simulated
ARM takes meshsim's fixed-token credential instead, which the product never imports. So the
tests start the product's own `main` through this module, handing it that credential:

    python -m tests.sim_bot run --config ...     (with MESHSIM_ARM_TOKEN=<any token>)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from azure.core.credentials import TokenCredential

from bot.azure.connect import ArmEndpoint
from bot.cli.main import main
from meshsim.arm.testing import StaticTokenCredential

ENV_TOKEN = "MESHSIM_ARM_TOKEN"
ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "tests.sim_bot"]  # run with cwd=ROOT (or ROOT on PYTHONPATH)


def credential(env: Mapping[str, str] | None = None) -> TokenCredential | None:
    token = (os.environ if env is None else env).get(ENV_TOKEN)
    return StaticTokenCredential(token) if token else None


def sim_arm(base_url: str, ca_file: str, token: str = "meshsim-test-token") -> ArmEndpoint:
    """The simulated ARM, as the tests that build the bot in-process reach it."""
    return ArmEndpoint(base_url, ca_file, StaticTokenCredential(token))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], arm_credential=credential()))
