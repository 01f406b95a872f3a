"""What istiod's injector does to a pod once the API server has called it.

`inject_required` is istiod's `injectRequired` (pkg/kube/inject/inject.go @1.23.0) and
`inject` applies the sidecar template: `istio-init` and `istio-proxy` with the images from the
revision's `istio-sidecar-injector-<rev>` ConfigMap, the `sidecar.istio.io/status` and
`istio.io/rev` annotations and the tlsMode/canonical labels (istio-kube.md §2B, §3).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from meshsim.kube.selectors import structured_matches
from meshsim.kube.store import Obj

IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease",
                                "local-path-storage"})
TRUTHY = frozenset({"y", "yes", "true", "on"})
VOLUMES = ("workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
           "istio-podinfo", "istio-token", "istiod-ca-cert")
STATUS = "sidecar.istio.io/status"
INJECT = "sidecar.istio.io/inject"


@dataclass(frozen=True)
class Injector:
    """One revision's injection settings, read from its injector ConfigMap."""

    revision: str
    namespace: str  # the control plane's namespace
    proxy_image: str
    init_image: str
    policy: str = "enabled"
    never: tuple[Obj, ...] = ()
    always: tuple[Obj, ...] = ()

    @classmethod
    def from_configmap(cls, configmap: Obj, namespace: str, revision: str) -> Injector:
        data = configmap.get("data") or {}
        return _parse(data.get("values") or "{}", data.get("config") or "", namespace,
                      revision or "default")


@functools.lru_cache(maxsize=64)
def _parse(values_text: str, config_text: str, namespace: str, revision: str) -> Injector:
    """Parsed once per ConfigMap content: pod creation in bulk must not re-read YAML."""
    values = orjson.loads(values_text)
    config = yaml.safe_load(config_text) or {}
    glob = values.get("global", {})
    proxy = glob.get("proxy", {}).get("image", "proxyv2")
    init = glob.get("proxy_init", {}).get("image", proxy)
    return Injector(revision, namespace, _image(glob, proxy), _image(glob, init),
                    config.get("policy", "enabled"),
                    tuple(config.get("neverInjectSelector") or ()),
                    tuple(config.get("alwaysInjectSelector") or ()))


def _image(glob: dict[str, Any], image: str) -> str:
    """A full reference is used verbatim; else {hub}/{image}:{tag} (ProxyImage())."""
    if "/" in image:
        return image
    return f"{glob.get('hub', 'docker.io/istio')}/{image}:{glob.get('tag', 'latest')}"


def inject_required(injector: Injector, pod: Obj) -> bool:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    if spec.get("hostNetwork") or meta.get("namespace") in IGNORED_NAMESPACES:
        return False
    labels = meta.get("labels") or {}
    value = labels.get(INJECT, (meta.get("annotations") or {}).get(INJECT, ""))
    if value:
        return value.lower() in TRUTHY
    if any(structured_matches(sel, labels) for sel in injector.never):
        return False
    if any(structured_matches(sel, labels) for sel in injector.always):
        return True
    return injector.policy == "enabled"


def inject(injector: Injector, pod: Obj) -> Obj:
    """The pod with the sidecar added (a new dict; `pod` is not changed)."""
    meta = dict(pod["metadata"])
    spec = dict(pod.get("spec") or {})
    pod = dict(pod, metadata=meta, spec=spec)
    app_containers = spec["containers"] = list(spec.get("containers") or [])
    first = app_containers[0]["name"] if app_containers else "istio-proxy"
    labels = meta["labels"] = dict(meta.get("labels") or {})
    labels["security.istio.io/tlsMode"] = "istio"
    labels["service.istio.io/canonical-name"] = _canonical_name(meta)
    labels["service.istio.io/canonical-revision"] = (
        labels.get("service.istio.io/canonical-revision") or labels.get("app.kubernetes.io/version")
        or labels.get("version") or "latest")
    notes = meta["annotations"] = dict(meta.get("annotations") or {})
    notes.update({
        "istio.io/rev": injector.revision,
        "kubectl.kubernetes.io/default-container": first,
        "kubectl.kubernetes.io/default-logs-container": first,
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/port": "15020",
        "prometheus.io/scrape": "true",
        STATUS: _status(injector.revision),
    })
    spec["initContainers"] = [*spec.get("initContainers", []), _init_container(injector)]
    app_containers.append(_proxy_container(injector, pod))
    spec["volumes"] = [*spec.get("volumes", []), *_volumes()]
    return pod


def _status(revision: str) -> str:
    # Go's json.Marshal of SidecarInjectionStatus: field order, compact, null for no secrets.
    return orjson.dumps({"initContainers": ["istio-init"], "containers": ["istio-proxy"],
                         "volumes": list(VOLUMES), "imagePullSecrets": None,
                         "revision": revision}).decode()


def _canonical_name(meta: Obj) -> str:
    labels = meta.get("labels") or {}
    for key in ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app"):
        if labels.get(key):
            return str(labels[key])
    name = meta.get("generateName") or meta.get("name") or "unknown"
    hash_label = labels.get("pod-template-hash")
    if hash_label and f"-{hash_label}-" in name:
        return str(name.split(f"-{hash_label}-")[0])
    return str(name).rstrip("-")


def _init_container(injector: Injector) -> Obj:
    return {
        "name": "istio-init", "image": injector.init_image, "imagePullPolicy": "IfNotPresent",
        "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
                 "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020",
                 "--log_output_level=default:info"],
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"},
                      "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False,
                            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
                            "readOnlyRootFilesystem": False, "runAsGroup": 0,
                            "runAsNonRoot": False, "runAsUser": 0},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }


def _proxy_container(injector: Injector, pod: Obj) -> Obj:
    meta = pod["metadata"]
    discovery = f"istiod-{injector.revision}.{injector.namespace}.svc:15012"
    proxy_config = orjson.dumps({"discoveryAddress": discovery, "gatewayTopology": {
        "numTrustedProxies": 1}, "image": {"imageType": "distroless"}}).decode()
    env = [
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": discovery},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                       "fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                            "fieldPath": "metadata.namespace"}}},
        {"name": "PROXY_CONFIG", "value": proxy_config},
        {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
        {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": _canonical_name(meta)},
        {"name": "TRUST_DOMAIN", "value": "cluster.local"},
    ]
    return {
        "name": "istio-proxy", "image": injector.proxy_image, "imagePullPolicy": "IfNotPresent",
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                 "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error",
                 "--log_output_level=default:info"],
        "env": env,
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {"failureThreshold": 4, "httpGet": {"path": "/healthz/ready",
                                                              "port": 15021, "scheme": "HTTP"},
                           "periodSeconds": 15, "successThreshold": 1, "timeoutSeconds": 3},
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"},
                      "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False,
                            "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
                            "runAsGroup": 1337, "runAsNonRoot": True, "runAsUser": 1337},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "volumeMounts": [{"mountPath": "/var/run/secrets/workload-spiffe-uds",
                          "name": "workload-socket"},
                         {"mountPath": "/var/run/secrets/credential-uds",
                          "name": "credential-socket"},
                         {"mountPath": "/var/run/secrets/workload-spiffe-credentials",
                          "name": "workload-certs"},
                         {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
                         {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
                         {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
                         {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
                         {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"}],
    }


def _volumes() -> list[Obj]:
    empty: Obj = {"emptyDir": {}}
    return [
        {"name": "workload-socket", **empty}, {"name": "credential-socket", **empty},
        {"name": "workload-certs", **empty},
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {"name": "istio-data", **empty},
        {"name": "istio-podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]}},
        {"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}},
        {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
    ]
