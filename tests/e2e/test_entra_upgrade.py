"""A whole upgrade of an Entra ID cluster through the simulated Slack channel, with tokens that
live 3 real seconds: the bot renews its AKS token (for its own calls and the census worker's)
and its ARM token many times over, and neither the API server nor ARM ever answers it 401."""

from __future__ import annotations

import time
from pathlib import Path

from meshsim.entra import AKS_SERVER_APP
from tests.e2e.slack_harness import running_bot
from tests.integration.conftest_workflow import NEW, OLD, Env, assert_only_on

LIFETIME = 3.0  # real seconds; Entra's own are an hour or more
SOAK = 500.0  # simulated seconds: 10 real seconds of checks (a census each) at the harness's speed


def test_an_entra_cluster_upgrade_outlives_many_short_tokens_without_a_401(
        tmp_path: Path) -> None:
    with running_bot(tmp_path, soak=SOAK, scenario="entra") as h:
        entra, kube = h.sim.arm.entra, h.sim.clusters["aks-sandbox"]
        entra.tenant.token_lifetime = LIFETIME
        started = time.monotonic()

        h.upgrade_to_completion(timeout=60)

        took = time.monotonic() - started
        assert took > 3 * LIFETIME, f"the run took {took:.1f} s: too short to prove renewal"
        aks = [c for c in entra.calls(AKS_SERVER_APP) if c.status == 200]
        assert len(aks) >= 3, aks  # renewed as the run went on (only when the bot calls)
        assert kube.request_log.records(code=401) == []
        assert kube.request_log.records(verb="patch", resource="deployments")  # it restarted
        assert [c for c in h.sim.arm.calls() if c.status == 401] == []
        assert_only_on(Env(h.sim, h.bot.services.workflow, h.bot.services.store),
                       keep=NEW, gone=OLD)
