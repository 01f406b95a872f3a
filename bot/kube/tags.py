"""Istio revision tags, made, listed and removed the way `istioctl tag` does on AKS.

A tag is a MutatingWebhookConfiguration labelled `istio.io/tag=<tag>` and `istio.io/rev=<rev>`,
rendered from istioctl's `revision-tags.yaml` template (1.23) and filled from the revision's
canonical injector (istio-kube.md §1.2-1.5). Tags are always found by label, never by name:
with `--istioNamespace aks-istio-system` istioctl names them `istio-revision-tag-<tag>-<ns>`,
and people may have made them with other names.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from kubernetes.client import AdmissionregistrationV1Api, AuthorizationV1Api, CoreV1Api

from bot.kube.rest import KubeIO, Obj, status_of
from bot.upgrade.addon import ISTIO_NAMESPACE, tag_webhook_name
from bot.upgrade.cluster_facts import DEFAULT_TAG, RevisionTag, TagChange, TagRemoval
from bot.upgrade.errors import GiveUp
from bot.upgrade.versions import InvalidRevision, Revision

TAG_LABEL, REV_LABEL = "istio.io/tag", "istio.io/rev"
INJECTOR_SUFFIX = "sidecar-injector.istio.io"
MWC = "mutatingwebhookconfigurations"


class Tags:
    def __init__(self, io: KubeIO, admission: AdmissionregistrationV1Api, core: CoreV1Api,
                 istio_namespace: str = ISTIO_NAMESPACE) -> None:
        self.io, self.admission, self.core = io, admission, core
        self.istio_namespace = istio_namespace

    # ---- set / retarget ------------------------------------------------------------------
    def set(self, tag: str, revision: str, *, overwrite: bool = True) -> TagChange:
        """`istioctl tag set <tag> --revision <rev> --istioNamespace <ns> [--overwrite]`.

        Stricter than istioctl in one way: a tag named like a revision is refused even with
        overwrite, because its webhook would overlap that revision's own injector. The bot
        never creates a `default` tag, but moves one that exists like any other tag.
        """
        if self._webhooks(f"{REV_LABEL}={tag},!{TAG_LABEL}"):
            raise GiveUp(f'cannot create revision tag "{tag}": found existing control plane '
                         "revision with same name", "Choose a tag name that is not a revision.")
        canonical: Obj = self._canonical(revision)
        existing = self._webhooks(f"{TAG_LABEL}={tag}")
        if len(existing) > 1:
            names = ", ".join(w["metadata"]["name"] for w in existing)
            raise GiveUp(f'revision tag "{tag}" has {len(existing)} webhook configurations: '
                         f"{names}; injection may occur twice.",
                         "Delete all but one of them by hand, then retry.")
        if existing and not overwrite:
            raise GiveUp(f'revision tag "{tag}" already exists, and --overwrite is false')
        if not existing and tag == DEFAULT_TAG:
            raise GiveUp('The bot does not create a "default" tag.',
                         "The AKS add-on uses istio.io/rev labels; pick another tag name.")
        body = tag_webhook(canonical, tag, revision, self.istio_namespace)
        if existing and not _rendered_by_template(existing[0]):
            body = retargeted(existing[0], canonical, revision, self.istio_namespace)
        if not existing:
            self.io.call("create", MWC, self.admission.create_mutating_webhook_configuration,
                         body, field_manager="mesh-upgrade-bot")
            return TagChange(tag, revision, None, body["metadata"]["name"], True)
        return self._retarget(existing[0], body, tag, revision)

    def _retarget(self, current: Obj, body: Obj, tag: str, revision: str) -> TagChange:
        name = current["metadata"]["name"]
        previous = (current["metadata"].get("labels") or {}).get(REV_LABEL)
        if same_webhook(current, body):
            return TagChange(tag, revision, previous, name, False)
        body["metadata"]["name"] = name
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self.io.call("update", MWC, self.admission.replace_mutating_webhook_configuration,
                     name, body, field_manager="mesh-upgrade-bot")
        return TagChange(tag, revision, previous, name, True)

    def _canonical(self, revision: str) -> Obj:
        found = self._webhooks(f"{REV_LABEL}={revision},!{TAG_LABEL}")
        if not found:
            raise GiveUp("cannot modify tag: cannot find MutatingWebhookConfiguration with "
                         f'revision "{revision}"',
                         "Is the revision installed? Check the mesh profile.")
        if len(found) > 1:
            raise GiveUp("cannot modify tag: found multiple canonical webhooks with revision "
                         f'"{revision}"')
        return found[0]

    # ---- list / lookup / remove ----------------------------------------------------------
    def list_tags(self) -> tuple[RevisionTag, ...]:
        """`istioctl tag list`: tags with the namespaces labelled with them, sorted."""
        labelled = self._namespaces_by_label()
        rows: dict[tuple[str, str], RevisionTag] = {}
        for hook in self._webhooks(REV_LABEL):
            labels = hook["metadata"].get("labels") or {}
            tag, rev = labels.get(TAG_LABEL, ""), labels.get(REV_LABEL, "")
            rows[(tag, rev)] = RevisionTag(tag, rev, labelled.get(tag, ()) if tag else ())
        tagged_revs = {rev for tag, rev in rows if tag}
        kept = [row for (tag, rev), row in rows.items() if tag or rev not in tagged_revs]
        return tuple(sorted(kept, key=lambda r: (r.revision, r.tag)))

    def revision_of(self, tag: str) -> str | None:
        """Where `tag` points now, or None if there is no such tag."""
        found = self._webhooks(f"{TAG_LABEL}={tag}")
        return (found[0]["metadata"].get("labels") or {}).get(REV_LABEL) if found else None

    def remove(self, tag: str, *, missing_ok: bool = True) -> TagRemoval:
        """`istioctl tag remove <tag> -y`; a tag already gone is a no-op unless missing_ok=False."""
        found = self._webhooks(f"{TAG_LABEL}={tag}")
        if not found and not missing_ok:
            raise GiveUp(f'cannot remove tag "{tag}": '
                         "cannot find MutatingWebhookConfiguration for tag")
        deleted = []
        for hook in found:
            name = hook["metadata"]["name"]
            try:
                self.io.call("delete", MWC,
                             self.admission.delete_mutating_webhook_configuration, name)
            except GiveUp as exc:
                if status_of(exc) != 404:
                    raise
                continue  # deleted meanwhile
            deleted.append(name)
        return TagRemoval(tag, tuple(deleted), self._namespaces_by_label().get(tag, ()))

    def forbidden(self, changes: Iterable[tuple[str, str]]) -> tuple[str, ...]:
        """Of (tag, verb) pairs, those the bot's identity may not do to the tag's webhook
        configuration, asked by name (SelfSubjectAccessReview): its Role may name only the
        tags it was told about. A tag not made yet is asked about under istioctl's name."""
        auth = AuthorizationV1Api(self.io.api_client)
        denied = []
        for tag, verb in changes:
            names = [w["metadata"]["name"] for w in self._webhooks(f"{TAG_LABEL}={tag}")]
            for name in names or [tag_webhook_name(tag, self.istio_namespace)]:
                body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                        "spec": {"resourceAttributes": {
                            "group": "admissionregistration.k8s.io", "verb": verb,
                            "resource": MWC, "name": name}}}
                answer = self.io.raw("create", "selfsubjectaccessreviews",
                                     auth.create_self_subject_access_review, body)
                if not (answer.get("status") or {}).get("allowed"):
                    denied.append(f"{verb} {MWC}/{name} (tag {tag})")
        return tuple(denied)

    def _webhooks(self, selector: str) -> list[Obj]:
        data = self.io.raw("list", MWC, self.admission.list_mutating_webhook_configuration,
                           label_selector=selector)
        return sorted(data.get("items") or [], key=lambda w: w["metadata"]["name"])

    def _namespaces_by_label(self) -> dict[str, tuple[str, ...]]:
        data = self.io.raw("list", "namespaces", self.core.list_namespace, label_selector=REV_LABEL)
        out: dict[str, list[str]] = {}
        for ns in data.get("items") or []:
            out.setdefault(ns["metadata"]["labels"][REV_LABEL], []).append(ns["metadata"]["name"])
        return {k: tuple(sorted(v)) for k, v in out.items()}


def tag_webhook(canonical: Obj, tag: str, revision: str, istio_namespace: str) -> Obj:
    """The MutatingWebhookConfiguration `istioctl tag set` 1.23 renders (istio-kube.md §1.3)."""
    injector = _injector(canonical)
    meta = canonical["metadata"]
    labels = {TAG_LABEL: tag, REV_LABEL: revision, "app": "sidecar-injector", "release": "istio"}
    labels.update({k: v for k, v in (meta.get("labels") or {}).items() if k != "app"})
    labels = {k: v for k, v in labels.items() if "operator.istio.io" not in k}
    labels[TAG_LABEL] = tag
    client = _client_config(injector.get("clientConfig") or {}, revision, istio_namespace)
    versions = review_versions(revision)
    webhooks = [_webhook("rev.namespace", client, _ns_selector(tag), _obj_selector(), versions),
                _webhook("rev.object", client, _ns_selector(None), _obj_selector(tag), versions)]
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": tag_webhook_name(tag, istio_namespace), "labels": labels,
                         "annotations": dict(meta.get("annotations") or {})},
            "webhooks": webhooks}


def _rendered_by_template(current: Obj) -> bool:
    """True for a tag with exactly the two `rev.*` webhooks this module renders; a `default`
    tag (which also serves istio-injection=enabled) or a hand-made one has others."""
    names = [h.get("name") for h in current.get("webhooks") or ()]
    return names == [f"{p}.{INJECTOR_SUFFIX}" for p in ("rev.namespace", "rev.object")]


def retargeted(current: Obj, canonical: Obj, revision: str, istio_namespace: str) -> Obj:
    """`current` pointed at `revision`'s injector, every selector kept as its maker left it."""
    client = _client_config(_injector(canonical).get("clientConfig") or {}, revision,
                            istio_namespace)
    body = copy.deepcopy(current)
    meta = body["metadata"]
    meta["labels"] = {**(meta.get("labels") or {}), REV_LABEL: revision}
    for hook in body.get("webhooks") or ():
        hook["clientConfig"] = {**(hook.get("clientConfig") or {}), **client}
        if "url" not in client:
            hook["clientConfig"].pop("url", None)
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": meta["name"], "labels": meta["labels"],
                         "annotations": dict(meta.get("annotations") or {})},
            "webhooks": body["webhooks"]}


def _injector(canonical: Obj) -> Obj:
    for hook in canonical.get("webhooks") or ():
        if str(hook.get("name", "")).endswith(INJECTOR_SUFFIX):
            return dict(hook)
    raise GiveUp("could not find sidecar-injector webhook in canonical webhook "
                 f'{canonical["metadata"]["name"]}')


def _client_config(canonical: Obj, revision: str, istio_namespace: str) -> Obj:
    config: Obj = {}
    if canonical.get("url"):
        config["url"] = canonical["url"]
    else:
        path = (canonical.get("service") or {}).get("path") or "/inject"
        config["service"] = {"name": f"istiod-{revision}", "namespace": istio_namespace,
                             "path": path, "port": 443}
    if canonical.get("caBundle"):
        config["caBundle"] = canonical["caBundle"]
    return config


def review_versions(revision: str) -> list[str]:
    """istioctl 1.22 renders ["v1beta1", "v1"], 1.23 and later ["v1"]; assume the istioctl
    of the target revision (asm-1-22 → 1.22), so re-setting a tag it made changes nothing."""
    try:
        old = Revision.parse(revision) <= Revision(1, 22)
    except InvalidRevision:
        old = False
    return ["v1beta1", "v1"] if old else ["v1"]


def _webhook(prefix: str, client: Obj, ns_selector: Obj, obj_selector: Obj,
             versions: list[str]) -> Obj:
    return {"name": f"{prefix}.{INJECTOR_SUFFIX}", "admissionReviewVersions": versions,
            "clientConfig": client, "failurePolicy": "Fail", "sideEffects": "None",
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"]}],
            "namespaceSelector": ns_selector, "objectSelector": obj_selector}


def _ns_selector(tag: str | None) -> Obj:
    rev: Obj = ({"key": REV_LABEL, "operator": "In", "values": [tag]} if tag
                else {"key": REV_LABEL, "operator": "DoesNotExist"})
    return {"matchExpressions": [rev, {"key": "istio-injection", "operator": "DoesNotExist"}]}


def _obj_selector(tag: str | None = None) -> Obj:
    exprs: list[Obj] = [
        {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]
    if tag:
        exprs.append({"key": REV_LABEL, "operator": "In", "values": [tag]})
    return {"matchExpressions": exprs}


def same_webhook(current: Obj, desired: Obj) -> bool:
    """True if `current` already has every field `desired` sets (server defaults ignored)."""
    meta, want = current["metadata"], desired["metadata"]
    if (meta.get("labels") or {}) != want["labels"]:
        return False
    if (meta.get("annotations") or {}) != want["annotations"]:
        return False
    hooks = current.get("webhooks") or []
    return len(hooks) == len(desired["webhooks"]) and all(
        _contains(have, need) for have, need in zip(hooks, desired["webhooks"], strict=True))


def _contains(have: Any, need: Any) -> bool:
    if isinstance(need, dict):
        return isinstance(have, dict) and all(_contains(have.get(k), v) for k, v in need.items())
    if isinstance(need, list):
        return (isinstance(have, list) and len(have) == len(need)
                and all(_contains(h, n) for h, n in zip(have, need, strict=True)))
    return bool(have == need)
