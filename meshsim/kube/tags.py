"""A revision tag's MutatingWebhookConfiguration exactly as `istioctl tag set <tag> --revision
<rev> --istioNamespace <ns>` renders it (istio-kube.md §1.2-§1.3): webhooks from the
revision-tags template, caBundle and service path copied from the revision's canonical
injector, and its labels (but `app`, and minus `operator.istio.io` keys) merged in.

The `default` tag also gets the default revision's webhooks (revision-tags.yaml @1.23.0 and
@1.27.0): `namespace.` for `istio-injection=enabled` namespaces, `object.` for pods labelled
`sidecar.istio.io/inject=true` where no namespace label decides, and with
`--auto-inject-namespaces` `auto.` for unlabelled pods in unlabelled namespaces.
"""

from __future__ import annotations

import copy

from meshsim.kube.store import Obj

TEMPLATE_WEBHOOKS = ("rev.namespace.sidecar-injector.istio.io",
                     "rev.object.sidecar-injector.istio.io")
DEFAULT_WEBHOOKS = ("namespace.sidecar-injector.istio.io", "object.sidecar-injector.istio.io")
AUTO_WEBHOOK = "auto.sidecar-injector.istio.io"
SYSTEM_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease", "local-path-storage"]
NOT_FALSE = {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}


def tag_webhook_name(tag: str, istio_namespace: str) -> str:
    suffix = "" if istio_namespace == "istio-system" else f"-{istio_namespace}"
    return f"istio-revision-tag-{tag}{suffix}"


def tag_webhook(canonical: Obj, tag: str, istio_namespace: str = "aks-istio-system",
                review_versions: tuple[str, ...] = ("v1beta1", "v1"),
                auto_inject_namespaces: bool = False) -> Obj:
    """The tag MWC for `tag`, built from the revision's canonical injector MWC.
    `review_versions` is istioctl 1.22's; 1.23 renders `("v1",)`."""
    source = next(h for h in canonical["webhooks"]
                  if h["name"].endswith("sidecar-injector.istio.io"))
    revision = canonical["metadata"]["labels"]["istio.io/rev"]
    ca, path = source["clientConfig"].get("caBundle"), source["clientConfig"]["service"].get("path")
    copied = {k: v for k, v in (canonical["metadata"].get("labels") or {}).items() if k != "app"}
    labels = {"istio.io/tag": tag, "istio.io/rev": revision,
              "install.operator.istio.io/owning-resource": "unknown",
              "operator.istio.io/component": "Pilot", "app": "sidecar-injector", "release": "istio",
              **copied}
    labels = {k: v for k, v in labels.items() if "operator.istio.io" not in k}
    names: tuple[str, ...] = TEMPLATE_WEBHOOKS
    if tag == "default":
        names += DEFAULT_WEBHOOKS + ((AUTO_WEBHOOK,) if auto_inject_namespaces else ())
    hooks = [_webhook(name, tag, revision, istio_namespace, path, ca, review_versions)
             for name in names]
    meta: Obj = {"name": tag_webhook_name(tag, istio_namespace), "labels": labels}
    if canonical["metadata"].get("annotations"):
        meta["annotations"] = copy.deepcopy(canonical["metadata"]["annotations"])
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration", "metadata": meta, "webhooks": hooks}


def _webhook(name: str, tag: str, revision: str, namespace: str, path: str | None,
             ca: str | None, review_versions: tuple[str, ...]) -> Obj:
    ns_sel, obj_sel = _selectors(name.removesuffix("sidecar-injector.istio.io"), tag)
    service: Obj = {"name": f"istiod-{revision}", "namespace": namespace, "port": 443}
    if path:
        service["path"] = path
    client: Obj = {"service": service}
    if ca:
        client["caBundle"] = ca
    return {"name": name, "admissionReviewVersions": list(review_versions), "clientConfig": client,
            "failurePolicy": "Fail", "sideEffects": "None",
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"]}],
            "namespaceSelector": {"matchExpressions": ns_sel},
            "objectSelector": {"matchExpressions": obj_sel}}


def _selectors(prefix: str, tag: str) -> tuple[list[Obj], list[Obj]]:
    """(namespaceSelector, objectSelector) expressions of one template webhook."""
    rev_is_tag = {"key": "istio.io/rev", "operator": "In", "values": [tag]}
    no_rev = {"key": "istio.io/rev", "operator": "DoesNotExist"}
    no_injection = {"key": "istio-injection", "operator": "DoesNotExist"}
    if prefix == "rev.namespace.":
        return [rev_is_tag, no_injection], [NOT_FALSE]
    if prefix == "rev.object.":
        return [no_rev, no_injection], [NOT_FALSE, rev_is_tag]
    if prefix == "namespace.":
        return [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}], [NOT_FALSE]
    if prefix == "object.":
        return [no_injection, no_rev], [
            {"key": "sidecar.istio.io/inject", "operator": "In", "values": ["true"]}, no_rev]
    return [no_injection, no_rev, {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                   "values": SYSTEM_NAMESPACES}], [
        {"key": "sidecar.istio.io/inject", "operator": "DoesNotExist"}, no_rev]
