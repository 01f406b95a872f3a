"""`KubeSim`: one simulated AKS cluster with the Istio add-on, put together from the store,
admission (defaults, then Istio's webhooks), the controllers and the add-on reconciler, and
served over HTTP by `meshsim.kube.server.make_app` plus the `/_sim/kube/...` control routes.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from meshsim import runtime
from meshsim.catalogue import Catalogue, default_catalogue
from meshsim.clock import SimClock
from meshsim.faults import Faults
from meshsim.kube import addon
from meshsim.kube.addon_objects import INGRESS_MODES
from meshsim.kube.admission import IstioAdmission
from meshsim.kube.auth import ClusterAuth
from meshsim.kube.controllers.base import POD
from meshsim.kube.controllers.manager import Controllers
from meshsim.kube.controllers.pods import FAULT_KINDS, PodFaults, pod_revision
from meshsim.kube.controllers.runner import AsyncRunner, Settler
from meshsim.kube.defaults import apply_defaults
from meshsim.kube.requestinfo import RequestLog
from meshsim.kube.resources import by_kind
from meshsim.kube.store import Obj, Store
from meshsim.traffic.faults import BadProxy, ProxyFaults


class KubeSim:
    def __init__(self, clock: SimClock, catalogue: Catalogue | None = None,
                 faults: Faults | None = None, seed: int = 0,
                 pod_start_seconds: float = 2.0, kubernetes_version: str = "1.30.6") -> None:
        self.clock = clock
        self.catalogue = catalogue if catalogue is not None else default_catalogue()
        self.faults = faults if faults is not None else Faults()
        self.pod_faults = PodFaults()
        self.proxy_faults = ProxyFaults()  # what meshsim.traffic's requests see
        self.store = Store(clock)
        self.admission = IstioAdmission(lambda: self.kubernetes_version)
        self.store.admission.extend([apply_defaults, self.admission])
        self.controllers = Controllers(self.store, clock, self.pod_faults, seed, pod_start_seconds)
        self.ingress_modes: tuple[str, ...] = INGRESS_MODES
        self.cluster_name, self.kubernetes_version = "aks-sandbox", kubernetes_version
        # The IstioNativeSidecarModePreview feature flag's fixed choice; None: AKS's rule.
        self.native_sidecar_preview: bool | None = None
        self.rng = random.Random(seed)
        self._runner: AsyncRunner | None = None
        self._simloop: runtime.SimLoop | None = None
        self.port: int | None = None
        self.scheme = "http"  # https when served with TLS (an Entra ID cluster)
        self.request_log = RequestLog()

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self, simloop: runtime.SimLoop, port: int = 0, *, auth: ClusterAuth | None = None,
              ssl_context: ssl.SSLContext | None = None) -> int:
        """Serve the API (plus control routes) and run the controllers on `simloop`; with
        `auth` and `ssl_context`, as an Entra ID cluster's API server (meshsim/kube/auth.py)."""
        from meshsim.kube.control import extra_routes
        from meshsim.kube.server import make_app

        self.start_controllers(simloop)
        app = make_app(self.store, self.faults, self.request_log, auth=auth,
                       kubernetes_version=lambda: self.kubernetes_version)
        extra_routes(app, self)
        self.scheme = "http" if ssl_context is None else "https"
        self.port = simloop.serve(app, port, ssl_context=ssl_context)
        return self.port

    def start_controllers(self, simloop: runtime.SimLoop) -> None:
        self._simloop = simloop
        self._runner = AsyncRunner(self.controllers, simloop.loop)
        simloop.call(self._runner.start())

    def stop(self) -> None:
        if self._runner is not None and self._simloop is not None:
            self._simloop.call(self._runner.stop())
            self._runner = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("KubeSim is not started")
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: str | Path, context: str = "aks-sandbox") -> Path:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": context, "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": f"clusterUser_{context}", "user": {"token": "meshsim-token"}}],
            "contexts": [{"name": context, "context": {
                "cluster": context, "user": f"clusterUser_{context}", "namespace": "default"}}]}
        target = Path(path)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        return target

    # ---- the add-on --------------------------------------------------------------------
    def set_revisions(self, revisions: Sequence[str], ingress_modes: Iterable[str] | None = None,
                      *, by_upgrade: bool | None = None) -> None:
        """What the add-on does when ARM's revisions change. New revisions come `by_upgrade`
        (None: the first one of an empty cluster is installed, the others are upgrades), which
        with the Kubernetes version decides their native sidecars."""
        if ingress_modes is not None:
            self.ingress_modes = tuple(ingress_modes)
        addon.apply_revisions(self.store, revisions, self.catalogue, self.ingress_modes,
                              kubernetes_version=self.kubernetes_version, by_upgrade=by_upgrade,
                              native_preview=self.native_sidecar_preview)

    def set_kubernetes_version(self, version: str) -> None:
        """A cluster upgrade: revisions AKS re-evaluates on one get their native setting."""
        self.kubernetes_version = version
        addon.refresh_native(self.store, self.catalogue, version)

    def revisions(self) -> list[str]:
        return addon.installed_revisions(self.store)

    def bump_patch(self, revision: str, version: str) -> None:
        if self.catalogue.get(revision) is not None:
            self.catalogue.bump_patch(revision, version)
        addon.bump_patch(self.store, revision, version)

    # ---- faults ------------------------------------------------------------------------
    def set_pod_fault(self, kind: str, revision: str) -> None:
        """`never-ready` or `crashloop` for pods injected by `revision`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown pod fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        self.pod_faults.set(kind, revision)
        self._recheck_pods()

    def clear_pod_faults(self, kind: str | None = None, revision: str | None = None) -> None:
        self.pod_faults.clear(kind, revision)
        self._recheck_pods()

    def set_bad_proxy(self, revision: str, error_ratio: float, extra_latency_ms: float = 0.0
                      ) -> None:
        """Requests served by pods on `revision` fail with 503 at `error_ratio` and take
        `extra_latency_ms` longer (meshsim/traffic/faults.py)."""
        self.proxy_faults.set(BadProxy(revision, float(error_ratio), float(extra_latency_ms)))

    def clear_bad_proxy(self, revision: str | None = None) -> None:
        self.proxy_faults.clear(revision)

    def _recheck_pods(self) -> None:
        if self._runner is None:
            return
        keys = [("pod", p["metadata"]["namespace"], p["metadata"]["name"])
                for p in self.store.list(POD) if pod_revision(p)]
        self._runner.enqueue(keys)

    @property
    def admission_warnings(self) -> list[Obj]:
        return list(self.admission.warnings)

    # ---- building ----------------------------------------------------------------------
    def settled(self) -> Settler:
        """`with sim.settled(): ...` runs the controllers to a fixed point on exit."""
        return Settler(self.controllers)

    def settle(self) -> None:
        """Bring every existing workload to its steady state now, pods Ready."""
        with Settler(self.controllers) as settler:
            settler.seed_all()

    def create(self, obj: Obj) -> Obj:
        return self.store.create(by_kind(obj["kind"]), obj)

    def snapshot(self) -> dict[str, Any]:
        return {"revisions": self.revisions(), "faults": self.pod_faults.snapshot(),
                "admission_warnings": self.admission_warnings}
