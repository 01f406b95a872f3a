"""The Kubernetes objects the AKS Istio add-on renders for one revision (istio-kube.md §0,
aks-arm.md §4): istiod's Deployment, Service, HPA and ConfigMaps and its webhook
configurations in `aks-istio-system`, and the per-revision ingress gateways in
`aks-istio-ingress` behind Services shared by all revisions.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

from meshsim.catalogue import revision_key
from meshsim.kube.inject import NATIVE_ENV
from meshsim.kube.store import Obj

SYSTEM_NS, INGRESS_NS = "aks-istio-system", "aks-istio-ingress"
INGRESS_MODES = ("external", "internal")
RELEASE = "azure-service-mesh-istio-discovery"
FLUX_ID = "6602bb4d1c5a4b0001b8f5b5"
AUTO_NATIVE_MINOR = 27  # istiod's default became "auto" (native on 1.33+ kubelets) in 1.27

# Labels AKS's Helm (via Flux) release puts on the control plane's objects (community evidence).
HELM_LABELS = {"app.kubernetes.io/managed-by": "Helm",
               "helm.toolkit.fluxcd.io/name": f"{RELEASE}-helmrelease",
               "helm.toolkit.fluxcd.io/namespace": FLUX_ID,
               "install.operator.istio.io/owning-resource": "unknown",
               "operator.istio.io/component": "Pilot", "release": RELEASE}
HELM_ANNOTATIONS = {"meta.helm.sh/release-name": RELEASE,
                    "meta.helm.sh/release-namespace": SYSTEM_NS}


def proxy_image(version: str) -> str:
    return f"mcr.microsoft.com/oss/istio/proxyv2:{version}-distroless"


def pilot_image(version: str) -> str:
    return f"mcr.microsoft.com/oss/istio/pilot:{version}-distroless"


def ca_bundle(revision: str) -> str:
    """A stable stand-in for the CA certificate istiod writes into its webhooks."""
    body = base64.b64encode(hashlib.sha512(f"istio-ca/{revision}".encode()).digest() * 6).decode()
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(
        body[i:i + 64] for i in range(0, len(body), 64)) + "\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def _meta(name: str, namespace: str | None, labels: dict[str, str],
          annotations: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    return meta


def _hpa(name: str, namespace: str, labels: dict[str, str]) -> Obj:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(name, namespace, labels),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": name},
                     "minReplicas": 2, "maxReplicas": 5,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 80}}}]}}


def native_setting(revision: str, enabled: bool) -> str | None:
    """AKS's ENABLE_NATIVE_SIDECARS for `revision`: "true" to enable; "false" from 1.27, whose
    istiod would otherwise pick native itself on 1.33 nodes; unset before 1.27."""
    if enabled:
        return "true"
    return "false" if revision_key(revision)[1] >= AUTO_NATIVE_MINOR else None


def istiod_objects(revision: str, version: str, native: str | None = None) -> list[Obj]:
    """Everything in aks-istio-system for `revision`, in creation order; `native` is the
    ENABLE_NATIVE_SIDECARS value istiod gets (None: not set)."""
    name = f"istiod-{revision}"
    labels = {"app": "istiod", "istio.io/rev": revision, "istio": "pilot", **HELM_LABELS}
    return [_mesh_configmap(revision), injector_configmap(revision, version),
            _service(name, labels), _istiod_deployment(revision, version, labels, native),
            _hpa(name, SYSTEM_NS, labels), _mutating_webhook(revision),
            _validating_webhook(revision)]


def _service(name: str, labels: dict[str, str]) -> Obj:
    ports = [("grpc-xds", 15010, 15010), ("https-dns", 15012, 15012),
             ("https-webhook", 443, 15017), ("http-monitoring", 15014, 15014)]
    digest = hashlib.blake2s(name.encode(), digest_size=2).digest()
    ip = f"10.0.{digest[0]}.{digest[1] % 250 + 2}"
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, SYSTEM_NS, dict(labels)),
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                     "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                     "selector": {"app": "istiod", "istio.io/rev": labels["istio.io/rev"]},
                     "ports": [{"name": n, "port": p, "protocol": "TCP", "targetPort": t}
                               for n, p, t in ports]},
            "status": {"loadBalancer": {}}}


def _istiod_deployment(revision: str, version: str, labels: dict[str, str],
                       native: str | None) -> Obj:
    pod_labels = {"app": "istiod", "istio.io/rev": revision, "istio": "istiod",
                  "sidecar.istio.io/inject": "false", "kubernetes.azure.com/managedby": "aks",
                  "install.operator.istio.io/owning-resource": "unknown",
                  "operator.istio.io/component": "Pilot"}
    container = {
        "name": "discovery", "image": pilot_image(version),
        "args": ["discovery", "--monitoringAddr=:15014", "--log_output_level=default:info",
                 "--domain", "cluster.local", "--keepaliveMaxServerConnectionAge", "30m"],
        "env": [{"name": "REVISION", "value": revision},
                {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
                {"name": "INJECTION_WEBHOOK_CONFIG_NAME",
                 "value": f"istio-sidecar-injector-{revision}-{SYSTEM_NS}"},
                {"name": "VALIDATION_WEBHOOK_CONFIG_NAME",
                 "value": f"istio-validator-{revision}-{SYSTEM_NS}"},
                # the chart's `pilot.env`, where AKS sets its native-sidecar choice
                *([{"name": NATIVE_ENV, "value": native}] if native is not None else [])],
        "ports": [{"containerPort": 8080, "protocol": "TCP"},
                  {"containerPort": 15010, "protocol": "TCP"},
                  {"containerPort": 15017, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
                           "initialDelaySeconds": 1, "periodSeconds": 3, "timeoutSeconds": 5},
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _meta(f"istiod-{revision}", SYSTEM_NS, dict(labels),
                              dict(HELM_ANNOTATIONS)),
            "spec": {"replicas": 2,
                     "selector": {"matchLabels": {"app": "istiod", "istio.io/rev": revision}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": pod_labels, "annotations": {
                         "prometheus.io/port": "15014", "prometheus.io/scrape": "true",
                         "sidecar.istio.io/inject": "false"}},
                         "spec": {"serviceAccountName": f"istiod-{revision}",
                                  "containers": [container]}}}}


def _mesh_configmap(revision: str) -> Obj:
    mesh = (f"defaultConfig:\n  discoveryAddress: istiod-{revision}.{SYSTEM_NS}.svc:15012\n"
            "  gatewayTopology:\n    numTrustedProxies: 1\n  image:\n    imageType: distroless\n"
            "defaultProviders:\n  metrics:\n  - prometheus\nenablePrometheusMerge: true\n"
            f"rootNamespace: {SYSTEM_NS}\ntrustDomain: cluster.local\n")
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(f"istio-{revision}", SYSTEM_NS,
                              {"istio.io/rev": revision, **HELM_LABELS}),
            "data": {"mesh": mesh, "meshNetworks": "networks: {}"}}


def injector_values(revision: str, version: str) -> dict[str, Any]:
    image = proxy_image(version)
    return {"global": {"hub": "mcr.microsoft.com/oss/istio", "tag": f"{version}-distroless",
                       "istioNamespace": SYSTEM_NS, "meshID": "", "network": "",
                       "proxy": {"image": image, "clusterDomain": "cluster.local",
                                 "logLevel": "warning", "privileged": False,
                                 "holdApplicationUntilProxyStarts": False},
                       "proxy_init": {"forceApplyIptables": False, "image": image,
                                      "resources": {"limits": {"cpu": "2000m", "memory": "1024Mi"},
                                                    "requests": {"cpu": "10m", "memory": "10Mi"}}},
                       "sts": {"servicePort": 0}, "variant": "distroless"},
            "istio_cni": {"enabled": False, "chained": True},
            "revision": revision,
            "sidecarInjectorWebhook": {"defaultTemplates": [], "enableNamespacesByDefault": False,
                                       "reinvocationPolicy": "Never", "rewriteAppHTTPProbe": True,
                                       "templates": {}}}


def injector_configmap(revision: str, version: str) -> Obj:
    # Helm's toPrettyJson (sorted keys, one per line): `kubectl get cm -o yaml | grep proxyv2`
    # prints the two `"image": "...proxyv2:<v>-distroless",` lines the AKS docs show.
    values = orjson.dumps(injector_values(revision, version),
                          option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    config = ("defaultTemplates: [sidecar]\npolicy: enabled\nalwaysInjectSelector:\n  []\n"
              "neverInjectSelector:\n  []\ninjectedAnnotations:\ntemplate: "
              "\"{{ Template_Version_And_Istio_Version_Mismatched_Check_Installation }}\"\n")
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(f"istio-sidecar-injector-{revision}", SYSTEM_NS,
                              {"istio.io/rev": revision, **HELM_LABELS}),
            "data": {"config": config, "values": values}}


def _injector_webhook(name: str, revision: str, ns_sel: list[Obj], obj_sel: list[Obj]) -> Obj:
    return {"name": name, "admissionReviewVersions": ["v1beta1", "v1"],
            "clientConfig": {"caBundle": ca_bundle(revision), "service": {
                "name": f"istiod-{revision}", "namespace": SYSTEM_NS, "path": "/inject",
                "port": 443}},
            "failurePolicy": "Fail", "matchPolicy": "Equivalent", "reinvocationPolicy": "Never",
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["pods"], "scope": "*"}],
            "sideEffects": "None", "timeoutSeconds": 10,
            "namespaceSelector": {"matchExpressions": ns_sel},
            "objectSelector": {"matchExpressions": obj_sel}}


def _mutating_webhook(revision: str) -> Obj:
    not_false = {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}
    no_injection = {"key": "istio-injection", "operator": "DoesNotExist"}
    labels = {"admissions.enforcer/disabled": "true", "app": "sidecar-injector",
              "istio.io/rev": revision, **HELM_LABELS}
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": _meta(f"istio-sidecar-injector-{revision}-{SYSTEM_NS}", None, labels,
                              dict(HELM_ANNOTATIONS)),
            "webhooks": [
                _injector_webhook("rev.namespace.sidecar-injector.istio.io", revision,
                                  [{"key": "istio.io/rev", "operator": "In", "values": [revision]},
                                   no_injection], [not_false]),
                _injector_webhook("rev.object.sidecar-injector.istio.io", revision,
                                  [{"key": "istio.io/rev", "operator": "DoesNotExist"},
                                   no_injection],
                                  [not_false, {"key": "istio.io/rev", "operator": "In",
                                               "values": [revision]}])]}


def _validating_webhook(revision: str) -> Obj:
    labels = {"app": "istiod", "istio": "istiod", "istio.io/rev": revision, **HELM_LABELS}
    groups = ["security.istio.io", "networking.istio.io", "telemetry.istio.io",
              "extensions.istio.io"]
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": _meta(f"istio-validator-{revision}-{SYSTEM_NS}", None, labels,
                              dict(HELM_ANNOTATIONS)),
            "webhooks": [{
                "name": "rev.validation.istio.io", "admissionReviewVersions": ["v1beta1", "v1"],
                "clientConfig": {"caBundle": ca_bundle(revision), "service": {
                    "name": f"istiod-{revision}", "namespace": SYSTEM_NS, "path": "/validate",
                    "port": 443}},
                "failurePolicy": "Ignore", "matchPolicy": "Equivalent", "sideEffects": "None",
                "timeoutSeconds": 10, "namespaceSelector": {},
                "objectSelector": {"matchExpressions": [
                    {"key": "istio.io/rev", "operator": "In", "values": [revision]}]},
                "rules": [{"apiGroups": groups, "apiVersions": ["*"],
                           "operations": ["CREATE", "UPDATE"], "resources": ["*"],
                           "scope": "*"}]}]}


def gateway_name(mode: str, revision: str) -> str:
    return f"aks-istio-ingressgateway-{mode}-{revision}"


def gateway_objects(mode: str, revision: str, version: str) -> list[Obj]:
    name, app = gateway_name(mode, revision), f"aks-istio-ingressgateway-{mode}"
    labels = {"app": app, "istio": app, "istio.io/rev": revision,
              "app.kubernetes.io/managed-by": "Helm"}
    pod_labels = {"app": app, "istio": app, "istio.io/rev": revision,
                  "sidecar.istio.io/inject": "false", "kubernetes.azure.com/managedby": "aks"}
    container = {"name": "istio-proxy", "image": proxy_image(version),
                 "args": ["proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                          "--proxyLogLevel=warning", "--log_output_level=default:info"],
                 "ports": [{"containerPort": 15021, "name": "status-port", "protocol": "TCP"},
                           {"containerPort": 8080, "name": "http2", "protocol": "TCP"},
                           {"containerPort": 8443, "name": "https", "protocol": "TCP"}],
                 "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021,
                                                "scheme": "HTTP"}, "periodSeconds": 2}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": _meta(name, INGRESS_NS, labels),
                  "spec": {"replicas": 2,
                           "selector": {"matchLabels": {"app": app, "istio.io/rev": revision}},
                           "template": {"metadata": {"labels": pod_labels, "annotations": {
                               "prometheus.io/port": "15020", "prometheus.io/scrape": "true"}},
                               "spec": {"serviceAccountName": name, "containers": [container]}}}}
    return [deployment, _hpa(name, INGRESS_NS, labels)]


def gateway_service(mode: str) -> Obj:
    """The LoadBalancer Service shared by every revision's gateway pods of one mode."""
    app = f"aks-istio-ingressgateway-{mode}"
    ip = "20.84.17.93" if mode == "external" else "10.224.0.200"
    notes = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"} \
        if mode == "internal" else None
    ports = [("status-port", 15021, 15021), ("http2", 80, 8080), ("https", 443, 8443)]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": _meta(app, INGRESS_NS, {"app": app, "istio": app}, notes),
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster",
                     "clusterIP": f"10.0.{200 + INGRESS_MODES.index(mode)}.10",
                     "selector": {"app": app, "istio": app},
                     "ports": [{"name": n, "port": p, "protocol": "TCP", "targetPort": t,
                                "nodePort": 30000 + p % 1000 + 100 * INGRESS_MODES.index(mode)}
                               for n, p, t in ports]},
            "status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}}
