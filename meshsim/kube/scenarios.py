"""Ready-made clusters. Each function populates a KubeSim through the same code paths a live
cluster uses (admission injects every pod, the controllers own every pod) and settles it, so
the cluster starts steady: all pods Running and Ready.

- `bookinfo`: the seed's cluster `aks-sandbox` on asm-1-22 with ingress, bookinfo in `default`,
  namespaces on the revision label and on a `prod-stable` tag, a StatefulSet, a DaemonSet,
  an `istio-injection=enabled` namespace (ignored by the add-on) and kube-system.
- `large`: 20,000 pods in 2,000 namespaces on two revisions, a tag and two patch versions.
- `brownfield`: a production cluster as years of people leave it (see `brownfield`).
- `small`: one cluster of a fleet, five pods in two namespaces, so that fifty start quickly.
"""

from __future__ import annotations

from datetime import date

from meshsim.kube import addon, batch
from meshsim.kube.addon_objects import SYSTEM_NS
from meshsim.kube.cluster import KubeSim
from meshsim.kube.resources import by_kind
from meshsim.kube.store import Obj
from meshsim.kube.tags import tag_webhook

BOOKINFO_IMAGE = "docker.io/istio/examples-bookinfo-{app}-{version}:1.20.2"
REV = "istio.io/rev"
# Too little traffic to judge (meshsim/traffic/profile.py): a workload the upgrade restarts,
# but not in its first wave, for which a gate can only say "no verdict".
LOW_RATE = {"traffic.meshsim.io/rps": "0.02"}


def namespace(sim: KubeSim, name: str, labels: dict[str, str] | None = None) -> Obj:
    return sim.create({"kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})


def deployment(namespace: str, name: str, image: str, replicas: int = 1,
               labels: dict[str, str] | None = None, port: int = 9080) -> Obj:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {
                         "serviceAccountName": labels.get("account", "default"),
                         "containers": [_container(name, image, port)]}}}}


def _container(name: str, image: str, port: int) -> Obj:
    return {"name": name.rsplit("-v", 1)[0] if name.endswith(("-v1", "-v2", "-v3")) else name,
            "image": image, "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": port, "protocol": "TCP"}]}


def service(namespace: str, app: str, port: int = 9080) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": app, "namespace": namespace,
                         "labels": {"app": app, "service": app}},
            "spec": {"type": "ClusterIP", "selector": {"app": app},
                     "ports": [{"name": "http", "port": port, "protocol": "TCP",
                                "targetPort": port}]}}


def statefulset(namespace: str, name: str, image: str, replicas: int) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"replicas": replicas, "serviceName": name,
                     "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [_container(name, image, 5432)]}}}}


def daemonset(namespace: str, name: str, image: str) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [_container(name, image, 2020)]}}}}


def set_tag(sim: KubeSim, tag: str, revision: str) -> Obj:
    """What `istioctl tag set <tag> --revision <rev> --istioNamespace aks-istio-system` makes."""
    canonical = sim.store.get(addon.MWC, "", f"istio-sidecar-injector-{revision}-{SYSTEM_NS}")
    return sim.create(tag_webhook(canonical, tag))


def shared_meshconfig(revision: str) -> Obj:
    mesh = "accessLogFile: /dev/stdout\ndefaultConfig:\n  holdApplicationUntilProxyStarts: true\n"
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"istio-shared-configmap-{revision}", "namespace": SYSTEM_NS},
            "data": {"mesh": mesh}}


def _kube_system(sim: KubeSim) -> None:
    for name in ("kube-system", "kube-public", "kube-node-lease"):
        namespace(sim, name)
    for name, image in (("coredns", "mcr.microsoft.com/oss/kubernetes/coredns:v1.11.3-1"),
                        ("metrics-server",
                         "mcr.microsoft.com/oss/kubernetes/metrics-server:v0.7.2")):
        sim.create(deployment("kube-system", name, image, 2, {"k8s-app": name}, 8080))


def _bookinfo_apps(sim: KubeSim) -> None:
    apps = [("productpage", "v1"), ("details", "v1"), ("ratings", "v1"),
            ("reviews", "v1"), ("reviews", "v2"), ("reviews", "v3")]
    for app in dict.fromkeys(a for a, _ in apps):
        sim.create({"kind": "ServiceAccount", "metadata": {
            "name": f"bookinfo-{app}", "namespace": "default", "labels": {"account": app}}})
        sim.create(service("default", app))
    for app, version in apps:
        labels = {"app": app, "version": version, "account": f"bookinfo-{app}"}
        image = BOOKINFO_IMAGE.format(app=app, version=version)
        body = deployment("default", f"{app}-{version}", image, 1, labels)
        body["spec"]["template"]["metadata"]["labels"].pop("account")
        body["spec"]["selector"]["matchLabels"].pop("account")
        body["metadata"]["labels"].pop("account")
        if app == "ratings":
            body["metadata"]["annotations"] = dict(LOW_RATE)
        sim.create(body)


def bookinfo(sim: KubeSim) -> None:
    """The seed's cluster before the upgrade; steady when this returns."""
    sim.cluster_name, sim.kubernetes_version = "aks-sandbox", "1.30.6"
    with sim.settled():
        _kube_system(sim)
        namespace(sim, "default", {REV: "asm-1-22"})
        sim.set_revisions(["asm-1-22"], ("external", "internal"))
        sim.create(shared_meshconfig("asm-1-22"))
        set_tag(sim, "prod-stable", "asm-1-22")
        _bookinfo_apps(sim)
        for ns, rev in (("payments", "asm-1-22"), ("orders", "asm-1-22"),
                        ("frontend", "prod-stable"), ("catalog", "prod-stable"),
                        ("monitoring", "asm-1-22")):
            namespace(sim, ns, {REV: rev})
        sim.create(deployment("payments", "payments-api",
                              "contoso.azurecr.io/payments-api:2.4.1", 2))
        sim.create(deployment("orders", "orders-api", "contoso.azurecr.io/orders-api:1.9.0", 2))
        sim.create(statefulset("orders", "orders-db", "docker.io/library/postgres:16.4", 3))
        sim.create(deployment("frontend", "web", "contoso.azurecr.io/web:5.0.2", 3))
        sim.create(deployment("catalog", "catalog-api", "contoso.azurecr.io/catalog-api:3.1.0", 2))
        sim.create(daemonset("monitoring", "log-agent", "cr.fluentbit.io/fluent/fluent-bit:3.1.9"))
        namespace(sim, "legacy", {"istio-injection": "enabled"})
        sim.create(deployment("legacy", "legacy-app", "contoso.azurecr.io/legacy:0.9.3", 1))


# A fleet's small cluster: namespace -> its deployments and their replicas.
SMALL_APPS = {"shop": (("cart", 2), ("checkout", 2)), "web": (("storefront", 1),)}


def small(sim: KubeSim, revision: str) -> None:
    """One cluster of a fleet on `revision` (external ingress only): `shop` and `web` on its
    revision label, five pods in all; steady when this returns."""
    with sim.settled():
        namespace(sim, "default")
        sim.set_revisions([revision], ("external",))
        for ns, apps in SMALL_APPS.items():
            namespace(sim, ns, {REV: revision})
            for name, replicas in apps:
                sim.create(deployment(ns, name, f"contoso.azurecr.io/{name}:1.0.0", replicas))


LARGE_NAMESPACES, LARGE_PODS_PER_NS = 2000, 10
# Namespace i's injection label by i % 10: most on a revision, some on the tag, one in ten none.
_LARGE_LABELS = ("asm-1-22",) * 4 + ("asm-1-23",) * 3 + ("prod-stable",) * 2 + ("",)


def large(sim: KubeSim, namespaces: int = LARGE_NAMESPACES) -> None:
    """`namespaces` x 10 pods (two deployments of 6 and 4) on asm-1-22 (half of them on an
    older patch version) and asm-1-23 during a canary, a `prod-stable` tag on asm-1-22, and
    one namespace in ten without injection."""
    sim.cluster_name, sim.kubernetes_version = "aks-large", "1.30.6"
    with sim.settled():
        _kube_system(sim)
        namespace(sim, "default")
        sim.set_revisions(["asm-1-22", "asm-1-23"], ("external",))
        set_tag(sim, "prod-stable", "asm-1-22")
    current = addon.installed_version(sim.store, "asm-1-22") or "1.22.5"
    major_minor, patch = current.rsplit(".", 1)
    addon.bump_patch(sim.store, "asm-1-22", f"{major_minor}.{max(int(patch) - 1, 0)}")
    half = namespaces // 2
    _large_batch(sim, range(half))
    addon.bump_patch(sim.store, "asm-1-22", current)
    _large_batch(sim, range(half, namespaces))


def _large_batch(sim: KubeSim, indexes: range) -> None:
    with sim.settled():
        for i in indexes:
            ns = f"team-{i:04d}"
            rev = _LARGE_LABELS[i % len(_LARGE_LABELS)]
            namespace(sim, ns, {REV: rev} if rev else {})
            sim.create(deployment(ns, "api", f"contoso.azurecr.io/team-{i:04d}/api:1.0.{i % 7}", 6))
            sim.create(deployment(ns, "worker", f"contoso.azurecr.io/team-{i:04d}/worker:1.0.0", 4))


BROWNFIELD_REVISION, BROWNFIELD_KUBERNETES = "asm-1-27", "1.33.2"
BROWNFIELD_DAY = date(2026, 4, 28)  # the AKS calendar then: asm-1-27, -28 and -29 supported
# Namespaces another team owns: a platform team lists them under the bot's namespaces.exclude.
BROWNFIELD_OUT_OF_SCOPE = ("partner",)


def brownfield(sim: KubeSim) -> None:
    """A lived-in production cluster on Kubernetes 1.33, on asm-1-27 since an upgrade done by
    hand (so its sidecars are classic; asm-1-29 would bring native ones):

    - `prod-stable` serves `payments`; `prod-canary`, left from that upgrade, still serves
      `orders` (in scope) and `partner` (another team's, out of the bot's scope);
    - a `default` tag made with istioctl, through which `legacy` (istio-injection=enabled)
      gets its sidecars;
    - in `batch`: finished Job pods (Succeeded), a CronJob, and a Job whose classic sidecar
      keeps its pod running after the app is done, as Istio Job pods do;
    - an evicted `payments-api` pod (Failed, reason Evicted) left for pod GC;
    - crash-looping workloads without a sidecar: one in `payments`, one in
      `gatekeeper-system`.
    """
    rev = BROWNFIELD_REVISION
    sim.cluster_name, sim.kubernetes_version = "aks-brownfield", BROWNFIELD_KUBERNETES
    sim.controllers.minor = int(BROWNFIELD_KUBERNETES.split(".")[1])
    with sim.settled():
        _kube_system(sim)
        namespace(sim, "default")
        sim.set_revisions([rev], ("external", "internal"), by_upgrade=True)
        sim.create(shared_meshconfig(rev))
        for tag in ("prod-stable", "prod-canary", "default"):
            set_tag(sim, tag, rev)
        for ns, labels in (("payments", {REV: "prod-stable"}), ("orders", {REV: "prod-canary"}),
                           ("partner", {REV: "prod-canary"}),
                           ("legacy", {"istio-injection": "enabled"}), ("batch", {REV: rev}),
                           ("gatekeeper-system", {})):
            namespace(sim, ns, labels)
        sim.create(_low_rate(deployment("payments", "payments-api",
                                        "contoso.azurecr.io/payments-api:3.2.0", 3)))
        sim.create(deployment("orders", "orders-api", "contoso.azurecr.io/orders-api:2.0.1", 2))
        sim.create(deployment("partner", "partner-api", "fabrikam.azurecr.io/partner:7.1", 1))
        sim.create(deployment("legacy", "legacy-app", "contoso.azurecr.io/legacy:0.9.3", 1))
        for name in ("report-29110900", "report-29110960"):
            sim.create(batch.job("batch", name, "contoso.azurecr.io/report:1.4", run_seconds=0,
                                 quits_proxy=True))
        sim.create(batch.cronjob("batch", "report", "0 * * * *", "contoso.azurecr.io/report:1.4",
                                 run_seconds=30, quits_proxy=True))
        sim.create(batch.job("batch", "reindex", "contoso.azurecr.io/search-reindex:5.0",
                             run_seconds=0))
        sim.create(_crashing(deployment("payments", "payments-exporter",
                                        "contoso.azurecr.io/exporter:0.3", 1)))
        sim.create(_crashing(deployment("gatekeeper-system", "gatekeeper-audit",
                                        "mcr.microsoft.com/oss/open-policy-agent/gatekeeper:"
                                        "v3.17.1", 1)))
    pod = next(p for p in sim.store.list(by_kind("Pod"), "payments")
               if p["metadata"]["name"].startswith("payments-api-"))
    batch.evict(sim, "payments", pod["metadata"]["name"])
    sim.settle()


def _low_rate(body: Obj) -> Obj:
    body["metadata"]["annotations"] = dict(LOW_RATE)
    return body


def _crashing(body: Obj) -> Obj:
    """No sidecar, and an app that exits at once: CrashLoopBackOff, unrelated to the mesh."""
    template = body["spec"]["template"]
    template["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"
    template["metadata"]["annotations"] = {batch.CRASHLOOP: "true"}
    return body
