"""A fixed-token credential for pointing azure-mgmt clients at the simulated ARM.

It is a real `azure.core.credentials.TokenCredential` (the simulator only checks that a bearer
token is present); the sandbox and the tests hand it to the bot in place of
DefaultAzureCredential (tests/sim_bot.py). The bot itself never imports it.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken

TOKEN = "meshsim-arm-token"


class StaticTokenCredential:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)
