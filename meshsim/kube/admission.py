"""Mutating admission for pod CREATE, as the API server runs it against Istio's webhooks.

MutatingWebhookConfigurations are taken in name order and their webhooks in list order
(apiserver `mutating_webhook_manager.go`), each matched against the object as the webhooks
before it left it (`dispatcher.go`). A matching webhook whose rules cover `CREATE pods v1` is
"called": its `clientConfig.service` must exist and have a Ready endpoint (else `failurePolicy`
decides), and the istiod behind it injects per its own rules (meshsim.kube.inject), so a later
match re-injects what an earlier one did. More than one call is recorded as an overlap
warning, as istioctl's webhook analyzer reports it. `reinvocationPolicy: IfNeeded` is not
modelled: every Istio webhook AKS and istioctl render says `Never`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

from meshsim.kube.inject import NATIVE_ENV, Injector, inject, inject_required, istiod_native
from meshsim.kube.resources import ResourceType, by_kind
from meshsim.kube.selectors import LabelSelector, from_structured, matches, structured_matches
from meshsim.kube.store import APIError, Obj, Store

MWC = by_kind("MutatingWebhookConfiguration")
POD = by_kind("Pod")
SERVICE = by_kind("Service")
NAMESPACE = by_kind("Namespace")
CONFIGMAP = by_kind("ConfigMap")


class IstioAdmission:
    """A Store admission hook; `warnings` lists pods that more than one webhook was called for.
    `kubelet_version` gives the nodes' Kubernetes version (istiod's native-sidecar "auto")."""

    def __init__(self, kubelet_version: Callable[[], str] = lambda: "1.30.6") -> None:
        self.warnings: list[Obj] = []
        self.kubelet_version = kubelet_version
        self._lock = threading.Lock()

    def __call__(self, store: Store, rt: ResourceType, obj: Obj) -> Obj:
        if rt.kind != "Pod":
            return obj
        ns = store.find(NAMESPACE, "", obj["metadata"].get("namespace", "default"))
        ns_labels = (ns or {}).get("metadata", {}).get("labels") or {}
        called = []
        for cfg, hook, ns_sel, obj_sel in _pod_create_hooks(store):
            if matches(ns_sel, ns_labels) and matches(obj_sel, obj["metadata"].get("labels")):
                called.append(f"{cfg}/{hook['name']}")
                obj = call_webhook(store, hook, obj, self.kubelet_version())
        if len(called) > 1:
            self._warn(obj, called)
        return obj

    def _warn(self, pod: Obj, names: list[str]) -> None:
        meta = pod["metadata"]
        warning = {"namespace": meta.get("namespace"), "pod": meta.get("name"), "webhooks": names,
                   "message": f"Webhook overlaps with others: {names}. "
                              "This may cause injection to occur twice."}
        with self._lock:
            self.warnings.append(warning)


ParsedHook = tuple[Obj, LabelSelector, LabelSelector]
_PARSED: dict[int, tuple[Obj, list[ParsedHook]]] = {}


def _pod_create_hooks(store: Store) -> Iterator[tuple[str, Obj, LabelSelector, LabelSelector]]:
    """Every pod-CREATE webhook, configurations sorted by name, webhooks in their order."""
    for cfg in sorted(store.list(MWC), key=lambda c: c["metadata"]["name"]):
        for hook, ns_sel, obj_sel in _parsed(cfg):
            yield cfg["metadata"]["name"], hook, ns_sel, obj_sel


def _parsed(cfg: Obj) -> list[ParsedHook]:
    """A configuration's pod-CREATE webhooks with parsed selectors, parsed once per stored
    version (stored dicts are never changed in place, so identity marks a version)."""
    hit = _PARSED.get(id(cfg))
    if hit is not None and hit[0] is cfg:
        return hit[1]
    parsed = [(hook, from_structured(hook.get("namespaceSelector")),
               from_structured(hook.get("objectSelector")))
              for hook in cfg.get("webhooks") or () if _rules_match(hook.get("rules") or ())]
    if len(_PARSED) > 512:
        _PARSED.clear()
    _PARSED[id(cfg)] = (cfg, parsed)
    return parsed


def _rules_match(rules: Any) -> bool:
    return any(_has(rule.get("operations"), "CREATE") and _has(rule.get("apiGroups"), "")
               and _has(rule.get("apiVersions"), "v1") and _has(rule.get("resources"), "pods")
               and rule.get("scope", "*") in ("*", "Namespaced") for rule in rules)


def _has(values: Any, wanted: str) -> bool:
    return bool(values) and (wanted in values or "*" in values or "*/*" in values)


def call_webhook(store: Store, hook: Obj, pod: Obj, kubelet_version: str = "1.30.6") -> Obj:
    client = hook.get("clientConfig") or {}
    ref = client.get("service")
    if ref is None:
        return _failed(hook, pod, f'Post "{client.get("url")}": dial tcp: connection refused')
    ns, name = ref.get("namespace", "default"), ref["name"]
    service = store.find(SERVICE, ns, name)
    if service is None:
        return _failed(hook, pod, f'service "{name}" not found')
    endpoints = ready_endpoints(store, service)
    if not endpoints:
        return _failed(hook, pod, f'no endpoints available for service "{name}"')
    injector = injector_for(store, service, endpoints[0], kubelet_version)
    if injector is None or not inject_required(injector, pod):  # not an istiod: pod unchanged
        return pod
    return inject(injector, pod)


def ready_endpoints(store: Store, service: Obj) -> list[Obj]:
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return []
    pods = store.list(POD, service["metadata"]["namespace"])
    return [p for p in pods if structured_matches({"matchLabels": selector},
                                                  p["metadata"].get("labels")) and _ready(p)]


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def injector_for(store: Store, service: Obj, istiod: Obj | None = None,
                 kubelet_version: str = "1.30.6") -> Injector | None:
    """The revision behind `istiod-<rev>`: its injector ConfigMap, and the native-sidecar
    setting the serving istiod pod (`istiod`) was started with."""
    meta = service["metadata"]
    revision = (meta.get("labels") or {}).get("istio.io/rev")
    if revision is None:
        return None
    suffix = "" if revision == "default" else f"-{revision}"
    configmap = store.find(CONFIGMAP, meta["namespace"], f"istio-sidecar-injector{suffix}")
    if configmap is None:
        return None
    injector = Injector.from_configmap(configmap, meta["namespace"], revision)
    native = istiod_native(_env(istiod, NATIVE_ENV), injector.minor, kubelet_version)
    return dataclasses.replace(injector, native=native) if native else injector


def _env(pod: Obj | None, name: str) -> str | None:
    for container in ((pod or {}).get("spec") or {}).get("containers") or ():
        for var in container.get("env") or ():
            if var.get("name") == name:
                return str(var.get("value", ""))
    return None


def _failed(hook: Obj, pod: Obj, reason: str) -> Obj:
    if hook.get("failurePolicy", "Fail") == "Ignore":
        return pod
    raise webhook_error(hook, reason)


def webhook_error(hook: Obj, reason: str) -> APIError:
    """The API server's wording for a webhook it could not call (failurePolicy: Fail)."""
    client = hook.get("clientConfig") or {}
    ref = client.get("service") or {}
    url = client.get("url") or (f"https://{ref.get('name')}.{ref.get('namespace')}.svc:"
                                f"{ref.get('port', 443)}{ref.get('path', '')}")
    timeout = hook.get("timeoutSeconds", 10)
    cause = (f'failed calling webhook "{hook["name"]}": failed to call webhook: '
             f'Post "{url}?timeout={timeout}s": {reason}')
    if client.get("url"):
        cause = f'failed calling webhook "{hook["name"]}": failed to call webhook: {reason}'
    return APIError(500, "InternalError", f"Internal error occurred: {cause}",
                    {"causes": [{"message": cause}]})
