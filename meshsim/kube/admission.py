"""Mutating admission for pod CREATE, as the API server runs it against Istio's webhooks.

MutatingWebhookConfigurations are taken in name order and each webhook whose rules match
`CREATE pods v1` and whose namespaceSelector/objectSelector match is "called": its
`clientConfig.service` must exist and have a Ready endpoint (else `failurePolicy` decides), and
the istiod behind it injects per its own rules (meshsim.kube.inject). More than one matching
webhook is recorded as an overlap warning, as istioctl's webhook analyzer reports it.
"""

from __future__ import annotations

import threading
from typing import Any

from meshsim.kube.inject import STATUS, Injector, inject, inject_required
from meshsim.kube.resources import ResourceType, by_kind
from meshsim.kube.selectors import LabelSelector, from_structured, matches, structured_matches
from meshsim.kube.store import APIError, Obj, Store

MWC = by_kind("MutatingWebhookConfiguration")
POD = by_kind("Pod")
SERVICE = by_kind("Service")
NAMESPACE = by_kind("Namespace")
CONFIGMAP = by_kind("ConfigMap")


class IstioAdmission:
    """A Store admission hook; `warnings` lists pods that more than one webhook matched."""

    def __init__(self) -> None:
        self.warnings: list[Obj] = []
        self._lock = threading.Lock()

    def __call__(self, store: Store, rt: ResourceType, obj: Obj) -> Obj:
        if rt.kind != "Pod":
            return obj
        matched = matching_webhooks(store, obj)
        if len(matched) > 1:
            self._warn(obj, [f"{cfg}/{hook['name']}" for cfg, hook in matched])
        for _, hook in matched:
            obj = call_webhook(store, hook, obj)
        return obj

    def _warn(self, pod: Obj, names: list[str]) -> None:
        meta = pod["metadata"]
        warning = {"namespace": meta.get("namespace"), "pod": meta.get("name"), "webhooks": names,
                   "message": f"Webhook overlaps with others: {names}. "
                              "This may cause injection to occur twice."}
        with self._lock:
            self.warnings.append(warning)


def matching_webhooks(store: Store, pod: Obj) -> list[tuple[str, Obj]]:
    """(configuration name, webhook) pairs the API server would call, in call order."""
    ns = store.find(NAMESPACE, "", pod["metadata"].get("namespace", "default"))
    ns_labels = (ns or {}).get("metadata", {}).get("labels") or {}
    pod_labels = pod["metadata"].get("labels") or {}
    configs = sorted(store.list(MWC), key=lambda c: c["metadata"]["name"])
    out = []
    for cfg in configs:
        for hook, ns_sel, obj_sel in _pod_create_hooks(cfg):
            if matches(ns_sel, ns_labels) and matches(obj_sel, pod_labels):
                out.append((cfg["metadata"]["name"], hook))
    return out


ParsedHook = tuple[Obj, LabelSelector, LabelSelector]
_PARSED: dict[int, tuple[Obj, list[ParsedHook]]] = {}


def _pod_create_hooks(cfg: Obj) -> list[ParsedHook]:
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


def call_webhook(store: Store, hook: Obj, pod: Obj) -> Obj:
    client = hook.get("clientConfig") or {}
    ref = client.get("service")
    if ref is None:
        return _failed(hook, pod, f'Post "{client.get("url")}": dial tcp: connection refused')
    ns, name = ref.get("namespace", "default"), ref["name"]
    service = store.find(SERVICE, ns, name)
    if service is None:
        return _failed(hook, pod, f'service "{name}" not found')
    if not ready_endpoints(store, service):
        return _failed(hook, pod, f'no endpoints available for service "{name}"')
    injector = injector_for(store, service)
    if injector is None:  # not an istiod: a webhook that allows the pod unchanged
        return pod
    if STATUS in (pod["metadata"].get("annotations") or {}) or not inject_required(injector, pod):
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


def injector_for(store: Store, service: Obj) -> Injector | None:
    """The revision behind `istiod-<rev>` and its injector ConfigMap."""
    meta = service["metadata"]
    revision = (meta.get("labels") or {}).get("istio.io/rev")
    if revision is None:
        return None
    suffix = "" if revision == "default" else f"-{revision}"
    configmap = store.find(CONFIGMAP, meta["namespace"], f"istio-sidecar-injector{suffix}")
    if configmap is None:
        return None
    return Injector.from_configmap(configmap, meta["namespace"], revision)


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
