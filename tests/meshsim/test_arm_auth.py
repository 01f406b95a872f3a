"""The simulated ARM lets in only tokens its tenant signed for ARM, unexpired, and refuses the
rest the way ARM does: 401, ARM's error code and words, a challenge without claims."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from meshsim.entra import AKS_SERVER_APP, Tenant
from tests.meshsim.arm_env import NAME, RG, arm_env, cluster_path, raw

GET = cluster_path() + "?api-version=2026-08-01"
ARM_SCOPE = "https://management.azure.com/.default"


def test_a_token_from_azure_identity_for_arm_is_accepted(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        mc = env.client().managed_clusters.get(RG, NAME)
    assert mc.service_mesh_profile.istio.revisions == ["asm-1-22"]


def test_an_expired_token_is_refused_with_arms_expiry_message(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        entra = env.arm.entra
        an_hour_ago = time.time() - 3700
        token, _ = entra.tenant.token_for(entra.bot, [ARM_SCOPE], now=an_hour_ago)
        status, body, headers = raw(env, "GET", GET, token=token)
    assert status == 401 and body["error"]["code"] == "ExpiredAuthenticationToken"
    assert re.fullmatch(r"The access token expiry UTC time '\d+/\d+/\d{4} \d+:\d\d:\d\d [AP]M' "
                        r"is earlier than current UTC time '\d+/\d+/\d{4} \d+:\d\d:\d\d [AP]M'\.",
                        body["error"]["message"]), body
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert "claims=" not in headers["WWW-Authenticate"]


def test_a_token_for_the_aks_server_app_is_the_wrong_audience_for_arm(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        status, body, _ = raw(env, "GET", GET, token=env.token(f"{AKS_SERVER_APP}/.default"))
    assert status == 401 and body["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert body["error"]["message"].startswith(
        f"The access token has been obtained for wrong audience or resource '{AKS_SERVER_APP}'."
        " It should exactly match with one of the allowed audiences "
        "'https://management.core.windows.net/'")


@pytest.mark.parametrize("token", ["not-a-jwt", "eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0."])
def test_garbage_and_tokens_of_another_tenant_are_invalid(tmp_path: Path, token: str) -> None:
    other = Tenant()
    foreign, _ = other.token_for(other.register("app", "s"), [ARM_SCOPE])
    with arm_env(tmp_path) as env:
        for bad in (token, foreign):
            status, body, _ = raw(env, "GET", GET, token=bad)
            assert (status, body["error"]["code"]) == (401, "InvalidAuthenticationToken")
            assert body["error"]["message"] == "The access token is invalid."

