"""`MeshSim`: every simulator of a scenario started together and wired to each other.

One SimLoop hosts each cluster's Kubernetes API server, the ARM endpoint and the Entra ID
tenant (HTTPS, one trustme CA) and the Slack workspace. ARM's operations call into the clusters
when they end, so a revision change made through azure-mgmt-containerservice shows up as
control-plane objects in the cluster. An Entra ID cluster (scenario `entra`) serves its API
over HTTPS to the tenant's tokens only (meshsim/entra/access.py). `describe()` is the JSON
line `python -m meshsim serve` prints; `parts` serves only the clusters with ARM ("cloud") or
only Slack. With the clusters comes their mesh traffic (meshsim/traffic): one plain-HTTP
telemetry server with each cluster's Istio metrics for a real Prometheus to scrape
(meshsim/prometheus.py), and, on request (`start_azure_monitor`), an Azure Monitor workspace's
query endpoint in front of that Prometheus, taking the tenant's tokens (meshsim/azmon).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from meshsim.arm import ArmSim
from meshsim.arm.credentials import EntraProfile
from meshsim.azmon.front import AzureMonitorFront
from meshsim.catalogue import default_catalogue
from meshsim.clock import SimClock
from meshsim.entra.access import ClusterAccess
from meshsim.entra.tenant import DEFAULT_LIFETIME
from meshsim.kube import scenarios
from meshsim.kube.cluster import KubeSim
from meshsim.runtime import SimLoop
from meshsim.slack import seed
from meshsim.slack.sim import SlackSim
from meshsim.traffic.server import TelemetryServer

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a115"
RESOURCE_GROUP = "rg-mesh"
LOCATION = "westeurope"

Populate = Callable[[KubeSim, str], None]
# What a MeshSim serves: the clusters with ARM (wired to each other), and Slack. A benchmark
# serves them from two processes, so that census pages do not share a loop with Slack's acks.
CLOUD, SLACK = "cloud", "slack"
PARTS = frozenset({CLOUD, SLACK})


Maintenance = tuple[tuple[str, dict[str, Any]], ...]  # (configuration name, its properties)


@dataclass(frozen=True)
class ClusterSeed:
    name: str
    revision: str
    kubernetes_version: str
    populate: Populate
    entra: bool = False  # Entra ID integration, local accounts disabled, Azure RBAC
    # Namespaces another team owns, which a platform team would keep out of the bot's scope.
    exclude: tuple[str, ...] = ()
    location: str = LOCATION
    maintenance: Maintenance = ()  # AKS maintenance configurations (planned maintenance)


def _bookinfo(kube: KubeSim, revision: str) -> None:
    scenarios.bookinfo(kube)


def _large(kube: KubeSim, revision: str) -> None:
    scenarios.large(kube)


def _brownfield(kube: KubeSim, revision: str) -> None:
    scenarios.brownfield(kube)


# The day of AKS's revision calendar a scenario lives on (default: the catalogue's own).
CATALOGUE_DAYS = {"brownfield": scenarios.BROWNFIELD_DAY}
# The revision a fleet upgrade aims at on the seed day: asm-1-24, n+1 or n+2 of the fleet's
# supported revisions, compatible with Kubernetes 1.28-1.33 (meshsim/catalogue.py).
FLEET_TARGET = "asm-1-24"
FLEET_SIZE = 50  # the `fleet50` scenario, for benchmarks


def weekly(day: str, start: str, utc_offset: str = "+00:00", hours: int = 4) -> dict[str, Any]:
    """A maintenance configuration's properties for a weekly window (AKS api 2024-09-01
    `maintenanceWindow.schedule.weekly`), as `az aks maintenanceconfiguration add
    --schedule-type Weekly` makes it."""
    return {"maintenanceWindow": {
        "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": day}},
        "durationHours": hours, "utcOffset": utc_offset, "startTime": start}}


AUTO_UPGRADE, NODE_OS = "aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"


def _fleet() -> tuple[ClusterSeed, ...]:
    """Eight small clusters in three rings (dev, staging, prod in two regions). For FLEET_TARGET
    most take it, `aks-dev-2` is on it already, and `aks-prod-eus-2` (an LTS cluster on 1.27,
    which asm-1-24 does not support) is offered only asm-1-23 until Kubernetes is upgraded."""
    small, eus = scenarios.small, "eastus"
    return (
        ClusterSeed("aks-dev-1", "asm-1-22", "1.30.6", small),
        ClusterSeed("aks-dev-2", FLEET_TARGET, "1.31.4", small),
        ClusterSeed("aks-staging-1", "asm-1-23", "1.31.4", small,
                    maintenance=((AUTO_UPGRADE, weekly("Saturday", "02:00")),)),
        ClusterSeed("aks-staging-2", "asm-1-22", "1.29.9", small),
        ClusterSeed("aks-prod-weu-1", "asm-1-22", "1.30.6", small,
                    maintenance=((AUTO_UPGRADE, weekly("Sunday", "01:00", "+01:00")),
                                 (NODE_OS, weekly("Sunday", "05:00", "+01:00")))),
        ClusterSeed("aks-prod-weu-2", "asm-1-23", "1.30.6", small),
        ClusterSeed("aks-prod-eus-1", "asm-1-23", "1.31.4", small, location=eus,
                    maintenance=((NODE_OS, weekly("Wednesday", "22:00", "-05:00")),)),
        # AKS numbers LTS patches from .100; 1.27 is past community support, LTS only.
        ClusterSeed("aks-prod-eus-2", "asm-1-22", "1.27.100", small, location=eus),
    )


def small_fleet(count: int) -> tuple[ClusterSeed, ...]:
    """`count` small clusters in the fleet's rings (a tenth dev, a fifth staging, the rest
    prod, alternating West Europe and East US), all of which take FLEET_TARGET."""
    dev, staging = max(count // 10, 1), max(count // 5, 1)
    names = ([f"aks-dev-{i:02d}" for i in range(1, dev + 1)]
             + [f"aks-staging-{i:02d}" for i in range(1, staging + 1)]
             + [f"aks-prod-{('weu', 'eus')[i % 2]}-{i // 2 + 1:02d}"
                for i in range(count - dev - staging)])
    profiles = (("asm-1-22", "1.30.6"), ("asm-1-23", "1.31.4"), ("asm-1-22", "1.29.9"))
    return tuple(ClusterSeed(name, *profiles[i % len(profiles)], scenarios.small,
                             location="eastus" if "-eus-" in name else LOCATION)
                 for i, name in enumerate(names[:count]))


SCENARIOS: dict[str, tuple[ClusterSeed, ...]] = {
    "bookinfo": (ClusterSeed("aks-sandbox", "asm-1-22", "1.30.6", _bookinfo),),
    "fleet": _fleet(),
    "fleet50": small_fleet(FLEET_SIZE),
    "large": (ClusterSeed("aks-sandbox", "asm-1-22", "1.30.6", _large),),
    "brownfield": (ClusterSeed("aks-brownfield", scenarios.BROWNFIELD_REVISION,
                               scenarios.BROWNFIELD_KUBERNETES, _brownfield,
                               exclude=scenarios.BROWNFIELD_OUT_OF_SCOPE, entra=True),),
    "entra": (ClusterSeed("aks-sandbox", "asm-1-22", "1.30.6", _bookinfo, entra=True),),
}


def azure_environment(described: dict[str, Any], workload_identity: bool = False
                      ) -> dict[str, str]:
    """What DefaultAzureCredential reads to reach the simulated tenant as in production: the
    tenant, the bot's client id and its secret (or, with `workload_identity`, its projected
    service account token), the authority host, and REQUESTS_CA_BUNDLE for the test CA."""
    entra = described["entra"]
    env = {"AZURE_TENANT_ID": entra["tenant_id"], "AZURE_CLIENT_ID": entra["client_id"],
           "AZURE_AUTHORITY_HOST": entra["authority_host"], "REQUESTS_CA_BUNDLE": entra["ca_file"]}
    if workload_identity:
        env["AZURE_FEDERATED_TOKEN_FILE"] = entra["federated_token_file"]
    else:
        env["AZURE_CLIENT_SECRET"] = entra["client_secret"]
    return env


def add_maintenance(arm: ArmSim, seed_: ClusterSeed) -> None:
    """The cluster's maintenance configurations, as `az aks maintenanceconfiguration add` makes
    them."""
    for name, properties in seed_.maintenance:
        arm.set_maintenance(SUBSCRIPTION, RESOURCE_GROUP, seed_.name, name, properties)


class MeshSim:
    """Start with `start()`, stop with `close()`; also a context manager."""

    def __init__(self, scenario: str = "bookinfo", speed: float = 1.0,
                 workdir: str | Path | None = None, operation_seconds: float = 30.0,
                 slack_port: int = 0, parts: frozenset[str] = PARTS,
                 token_lifetime: float = DEFAULT_LIFETIME) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        if not parts or parts - PARTS:
            raise ValueError(f"parts must be some of {', '.join(sorted(PARTS))}")
        self.scenario = scenario
        self.parts = parts
        self.clock = SimClock(speed)
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="meshsim-")
        self.workdir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.loop: SimLoop | None = None
        self.clusters: dict[str, KubeSim] = {}
        day = CATALOGUE_DAYS.get(scenario)
        self.arm = ArmSim(self.clock, catalogue=default_catalogue(day) if day else None,
                          operation_seconds=operation_seconds)
        self.arm.entra.tenant.token_lifetime = token_lifetime  # real seconds, not simulated
        self.access = ClusterAccess(self.arm.entra, self.workdir, LOCATION)
        self.entra_clusters: set[str] = set()
        self.slack = SlackSim(self.clock)
        self.slack_port = slack_port  # 0: a free port
        self.kubeconfig = self.workdir / "kubeconfig"
        self.telemetry: TelemetryServer | None = None
        self.azure_monitor: AzureMonitorFront | None = None

    def __enter__(self) -> MeshSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> dict[str, Any]:
        self.loop = SimLoop()
        if CLOUD in self.parts:
            self.arm.serve(self.loop, self.workdir / "tls")  # first: Entra clusters use its CA
            self.access.start(self.loop)
            for cluster in SCENARIOS[self.scenario]:
                self._start_cluster(self.loop, cluster)
            self._write_kubeconfig()
            self.telemetry = TelemetryServer(self.clusters)
            self.telemetry.serve(self.loop)
        if SLACK in self.parts:
            self.slack.serve(self.loop, self.slack_port)
        return self.describe()

    def _start_cluster(self, loop: SimLoop, seed_: ClusterSeed) -> None:
        kube = KubeSim(self.clock, catalogue=self.arm.catalogue,
                       kubernetes_version=seed_.kubernetes_version)
        seed_.populate(kube, seed_.revision)
        kube.cluster_name, kube.kubernetes_version = seed_.name, seed_.kubernetes_version
        cluster_id = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers"
                      f"/Microsoft.ContainerService/managedClusters/{seed_.name}")
        self.arm.entra.register_cluster(seed_.name, cluster_id)
        entra = EntraProfile(self.arm.entra.tenant.tenant_id) if seed_.entra else None
        if entra is not None and self.arm.server_tls is not None:
            kube.start(loop, auth=self.access.entra_cluster(seed_.name, cluster_id),
                       ssl_context=self.arm.server_tls.server_context)
            self.entra_clusters.add(seed_.name)
        else:
            kube.start(loop)
        first = not self.clusters  # the bot's own cluster: its OIDC issuer signs the bot's token
        self.clusters[seed_.name] = kube
        self.arm.add_cluster(SUBSCRIPTION, RESOURCE_GROUP, seed_.name, location=seed_.location,
                             kubernetes_version=seed_.kubernetes_version,
                             revisions=kube.revisions(), kube_server_url=kube.url,
                             on_revisions=kube.set_revisions, on_patch=kube.bump_patch,
                             kube_ca_pem=self._ca_pem() if entra else None, entra=entra,
                             oidc_issuer_url=self.access.issuer.url if first else None)
        add_maintenance(self.arm, seed_)

    def start_azure_monitor(self, upstream_url: str) -> str:
        """Serve an Azure Monitor workspace's query endpoint (HTTPS, the cloud's CA) in front
        of the Prometheus at `upstream_url`; its base URL."""
        if self.loop is None or self.arm.server_tls is None:
            raise RuntimeError("start the cloud part of MeshSim first")
        self.azure_monitor = AzureMonitorFront(self.arm.entra.tenant, upstream_url)
        return self.azure_monitor.serve(self.loop, self.arm.server_tls.server_context)

    def _ca_pem(self) -> str:
        assert self.arm.ca_path is not None
        return self.arm.ca_path.read_text()

    def _write_kubeconfig(self) -> None:
        """One kubeconfig with a context per cluster, named after the cluster."""
        docs = []
        for name, kube in self.clusters.items():
            path = kube.write_kubeconfig(self.workdir / f"kubeconfig-{name}", context=name)
            if name in self.entra_clusters:
                self.access.operator_kubeconfig(path, self._ca_pem())
            docs.append(yaml.safe_load(path.read_text()))
        merged = {"apiVersion": "v1", "kind": "Config", "preferences": {},
                  "current-context": next(iter(self.clusters)),
                  "clusters": [c for d in docs for c in d["clusters"]],
                  "users": [u for d in docs for u in d["users"]],
                  "contexts": [c for d in docs for c in d["contexts"]]}
        self.kubeconfig.write_text(yaml.safe_dump(merged, sort_keys=False))

    def describe(self) -> dict[str, Any]:
        """Endpoints of the parts served (all of them unless `parts` said otherwise)."""
        cloud = CLOUD in self.parts
        out: dict[str, Any] = {"scenario": self.scenario, "speed": self.clock.speed}
        if cloud:
            out["kubeconfig"] = str(self.kubeconfig)
            out["arm"] = {"url": self.arm.base_url, "ca_file": str(self.arm.ca_path)}
            out["entra"] = self.access.describe(str(self.arm.ca_path))
        if SLACK in self.parts:
            out["slack"] = {"url": self.slack.base_url, "api_url": self.slack.api_url,
                            "page": f"{self.slack.base_url}/", **seed.tokens()}
        if cloud:
            seeds = {c.name: c for c in SCENARIOS[self.scenario]}
            out["clusters"] = [{"name": name, "kube_url": kube.url, "context": name,
                                "kubeconfig": str(self.workdir / f"kubeconfig-{name}"),
                                "subscription_id": SUBSCRIPTION,
                                "resource_group": RESOURCE_GROUP,
                                "location": seeds[name].location,
                                "revisions": kube.revisions(),
                                "entra": name in self.entra_clusters,
                                "exclude": list(seeds[name].exclude)}
                               for name, kube in self.clusters.items()]
            if self.scenario in ("fleet", "fleet50"):  # the revision its fleet upgrade aims at
                out["fleet_target"] = FLEET_TARGET
        if self.telemetry is not None and self.telemetry.url is not None:
            out["telemetry"] = {"url": self.telemetry.url, "clusters": self.telemetry.paths()}
        if self.azure_monitor is not None:
            out["azure_monitor"] = {"query_endpoint": self.azure_monitor.url,
                                    "ca_file": str(self.arm.ca_path)}
        return out

    def close(self) -> None:
        if self.loop is not None:
            self.access.stop()
            for kube in self.clusters.values():
                kube.stop()
            self.loop.close()
            self.loop = None
        if self._tmp is not None:
            self._tmp.cleanup()
