"""What istiod's sidecar template renders for one pod: `istio-init`, `istio-proxy` (a classic
container, or with native sidecars an init container with `restartPolicy: Always`), the
volumes and the `sidecar.istio.io/status` annotation listing them
(injection-template.yaml and webhook.go `getInjectionStatus`, istio @1.23.0 and @1.27.0).
"""

from __future__ import annotations

import orjson

from meshsim.kube.store import Obj

VOLUMES = ("workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
           "istio-podinfo", "istio-token", "istiod-ca-cert")
CRL_MINOR = 27  # the template mounts the optional `istio-ca-crl` ConfigMap from 1.27 on
STATUS_PORT = "15020"


def volume_names(minor: int) -> tuple[str, ...]:
    return VOLUMES + (("istio-ca-crl",) if minor >= CRL_MINOR else ())


def status(revision: str, minor: int, native: bool) -> str:
    """Go's json.Marshal of SidecarInjectionStatus over the rendered template pod: field order,
    compact, null for an empty list (native: no `containers` at all)."""
    inits = ["istio-init", "istio-proxy"] if native else ["istio-init"]
    return orjson.dumps({"initContainers": inits, "containers": None if native else ["istio-proxy"],
                         "volumes": list(volume_names(minor)), "imagePullSecrets": None,
                         "revision": revision}).decode()


def init_container(image: str) -> Obj:
    return {
        "name": "istio-init", "image": image, "imagePullPolicy": "IfNotPresent",
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


def proxy_container(image: str, discovery: str, workload: str, minor: int, native: bool) -> Obj:
    proxy = {
        "name": "istio-proxy", "image": image, "imagePullPolicy": "IfNotPresent",
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                 "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error",
                 "--log_output_level=default:info"],
        "env": _proxy_env(discovery, workload),
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "startupProbe": _probe(initialDelaySeconds=0, periodSeconds=1, failureThreshold=600),
        "readinessProbe": _probe(periodSeconds=15, failureThreshold=4),
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"},
                      "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False,
                            "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
                            "runAsGroup": 1337, "runAsNonRoot": True, "runAsUser": 1337},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "volumeMounts": _mounts(minor),
    }
    if native:  # a sidecar the kubelet keeps running; drain when the pod starts to stop
        proxy["restartPolicy"] = "Always"
        proxy["lifecycle"] = {"preStop": {"exec": {"command": [
            "pilot-agent", "request", f"--debug-port={STATUS_PORT}", "POST", "drain"]}}}
    return proxy


def _probe(**timing: int) -> Obj:
    return {"httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
            "successThreshold": 1, "timeoutSeconds": 3, **timing}


def _proxy_env(discovery: str, workload: str) -> list[Obj]:
    proxy_config = orjson.dumps({"discoveryAddress": discovery, "gatewayTopology": {
        "numTrustedProxies": 1}, "image": {"imageType": "distroless"}}).decode()
    return [
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": discovery},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                       "fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                            "fieldPath": "metadata.namespace"}}},
        {"name": "PROXY_CONFIG", "value": proxy_config},
        {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
        {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": workload},
        {"name": "TRUST_DOMAIN", "value": "cluster.local"},
    ]


def _mounts(minor: int) -> list[Obj]:
    paths = [("/var/run/secrets/workload-spiffe-uds", "workload-socket"),
             ("/var/run/secrets/credential-uds", "credential-socket"),
             ("/var/run/secrets/workload-spiffe-credentials", "workload-certs"),
             ("/var/run/secrets/istio", "istiod-ca-cert")]
    if minor >= CRL_MINOR:
        paths.append(("/var/run/secrets/istio/crl", "istio-ca-crl"))
    paths += [("/var/lib/istio/data", "istio-data"), ("/etc/istio/proxy", "istio-envoy"),
              ("/var/run/secrets/tokens", "istio-token"), ("/etc/istio/pod", "istio-podinfo")]
    return [{"mountPath": path, "name": name} for path, name in paths]


def volumes(minor: int) -> list[Obj]:
    empty: Obj = {"emptyDir": {}}
    out = [
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
    if minor >= CRL_MINOR:
        out.append({"name": "istio-ca-crl",
                    "configMap": {"name": "istio-ca-crl", "optional": True}})
    return out
