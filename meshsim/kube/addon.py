"""The AKS Istio add-on's reconciler: one call makes the cluster's set of installed revisions
equal to the one ARM was given (creating or removing every object of a revision), another
rolls a revision to a new patch version, and `mirror_hpa` applies AKS's canary HPA rule.

A revision's istiod gets its native-sidecar setting when it is rendered, by AKS's rule
(catalogue `RevisionInfo.native_by_default`): the cluster's Kubernetes version, and whether
the revision came by a fresh install or by an upgrade (a canary). `refresh_native` applies a
Kubernetes upgrade to the revisions whose setting follows it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import orjson

from meshsim.catalogue import Catalogue, NativeSidecars, revision_key
from meshsim.kube.addon_objects import (
    INGRESS_MODES,
    INGRESS_NS,
    SYSTEM_NS,
    gateway_name,
    gateway_objects,
    gateway_service,
    injector_values,
    istiod_objects,
    native_setting,
    pilot_image,
    proxy_image,
)
from meshsim.kube.controllers.base import CONFIGMAP, DEPLOYMENT, HPA, NAMESPACE, replace
from meshsim.kube.controllers.gc import delete_cascade
from meshsim.kube.inject import NATIVE_ENV
from meshsim.kube.resources import by_kind
from meshsim.kube.selectors import parse_label_selector
from meshsim.kube.store import Obj, Store

MWC = by_kind("MutatingWebhookConfiguration")
HPA_SPEC_FIELDS = ("minReplicas", "maxReplicas", "metrics", "behavior")


def installed_revisions(store: Store) -> list[str]:
    """Revisions with an istiod Deployment, oldest first."""
    found = {d["metadata"]["labels"]["istio.io/rev"] for d in store.list(
        DEPLOYMENT, SYSTEM_NS, parse_label_selector("app=istiod,istio.io/rev"))}
    return sorted(found, key=revision_key)


def installed_version(store: Store, revision: str) -> str | None:
    """The patch version a revision's injector hands out, e.g. `1.22.5`."""
    cm = store.find(CONFIGMAP, SYSTEM_NS, f"istio-sidecar-injector-{revision}")
    if cm is None:
        return None
    image = orjson.loads(cm["data"]["values"])["global"]["proxy"]["image"]
    return str(image.rsplit(":", 1)[1].removesuffix("-distroless"))


def apply_revisions(store: Store, revisions: Sequence[str], catalogue: Catalogue,
                    ingress_modes: Iterable[str] = INGRESS_MODES, *,
                    kubernetes_version: str = "1.30.6", by_upgrade: bool | None = None,
                    native_preview: bool | None = None) -> None:
    """Make the installed revisions (and ingress modes) exactly `revisions` (`modes`).
    New revisions arrive `by_upgrade` (None: as AKS allows, the first revision of an empty
    cluster is installed, the others come by upgrade); `native_preview` is the preview
    feature flag's fixed native-sidecar choice, None without the flag."""
    modes = [m for m in INGRESS_MODES if m in set(ingress_modes)]
    with store.lock:
        if revisions:
            for ns in (SYSTEM_NS, INGRESS_NS):
                _ensure_namespace(store, ns)
        installed = installed_revisions(store)
        for revision in installed:
            if revision not in revisions:
                _remove_revision(store, revision)
        for i, revision in enumerate(sorted(revisions, key=revision_key)):
            upgraded = by_upgrade if by_upgrade is not None else bool(installed or i)
            native = native_preview if native_preview is not None else _native_default(
                catalogue, revision, kubernetes_version, upgraded)
            version = installed_version(store, revision) or _catalogue_version(catalogue, revision)
            for obj in istiod_objects(revision, version, native_setting(revision, native)):
                _create_missing(store, obj)
            for mode in INGRESS_MODES:
                if mode in modes:
                    for obj in gateway_objects(mode, revision, version):
                        _create_missing(store, obj)
                else:
                    _remove_gateway(store, mode, revision)
        for mode in INGRESS_MODES:
            if revisions and mode in modes:
                _create_missing(store, gateway_service(mode))
            else:
                _delete(store, gateway_service(mode))
        if revisions:
            _mirror_all(store)
        else:  # the add-on disabled: AKS removes its namespaces (and the Istio CRDs)
            for ns in (SYSTEM_NS, INGRESS_NS):
                if store.find(NAMESPACE, "", ns) is not None:
                    store.delete(NAMESPACE, "", ns)


def _native_default(catalogue: Catalogue, revision: str, kubernetes_version: str,
                    upgraded: bool) -> bool:
    info = catalogue.get(revision)
    return info is not None and info.native_by_default(kubernetes_version, upgraded)


def refresh_native(store: Store, catalogue: Catalogue, kubernetes_version: str) -> None:
    """After a cluster upgrade: revisions AKS enables "by mesh or cluster upgrade" get the
    setting the new version calls for (their istiod pods roll); the others keep theirs."""
    with store.lock:
        for revision in installed_revisions(store):
            info = catalogue.get(revision)
            if info is None or info.native_sidecars is not NativeSidecars.ALWAYS:
                continue
            wanted = native_setting(revision, info.native_by_default(kubernetes_version, True))
            _set_env(store, f"istiod-{revision}", NATIVE_ENV, wanted)


def _set_env(store: Store, name: str, key: str, value: str | None) -> None:
    deployment = store.get(DEPLOYMENT, SYSTEM_NS, name)
    new = copy.deepcopy(deployment)
    container = new["spec"]["template"]["spec"]["containers"][0]
    env = [e for e in container.get("env") or () if e.get("name") != key]
    container["env"] = env + ([{"name": key, "value": value}] if value is not None else [])
    if new != deployment:
        replace(store, DEPLOYMENT, new)


def _catalogue_version(catalogue: Catalogue, revision: str) -> str:
    info = catalogue.get(revision)
    if info is None:
        raise KeyError(f"revision {revision!r} is not in the catalogue")
    return info.version


def _ensure_namespace(store: Store, name: str) -> None:
    if store.find(NAMESPACE, "", name) is None:
        store.create(NAMESPACE, {"metadata": {"name": name}})


def _create_missing(store: Store, obj: Obj) -> None:
    rt = by_kind(obj["kind"])
    if store.find(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]) is None:
        store.create(rt, copy.deepcopy(obj))


def _delete(store: Store, obj: Obj) -> None:
    delete_cascade(store, by_kind(obj["kind"]), obj["metadata"].get("namespace", ""),
                   obj["metadata"]["name"])


def _remove_revision(store: Store, revision: str) -> None:
    for obj in istiod_objects(revision, "0.0.0"):
        _delete(store, obj)
    for mode in INGRESS_MODES:
        _remove_gateway(store, mode, revision)


def _remove_gateway(store: Store, mode: str, revision: str) -> None:
    for obj in gateway_objects(mode, revision, "0.0.0"):
        _delete(store, obj)


def bump_patch(store: Store, revision: str, version: str) -> None:
    """Roll `revision` to patch `version` as AKS does in a maintenance window: a new proxy
    image in the injector, and new istiod and gateway images (so their pods roll)."""
    with store.lock:
        cm = store.get(CONFIGMAP, SYSTEM_NS, f"istio-sidecar-injector-{revision}")
        values = orjson.loads(cm["data"]["values"])
        fresh = injector_values(revision, version)
        values["global"].update(hub=fresh["global"]["hub"], tag=fresh["global"]["tag"])
        values["global"]["proxy"]["image"] = values["global"]["proxy_init"]["image"] = \
            proxy_image(version)
        text = orjson.dumps(values, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        data = dict(cm["data"], values=text)
        replace(store, CONFIGMAP, dict(cm, data=data))
        _set_image(store, SYSTEM_NS, f"istiod-{revision}", pilot_image(version))
        for mode in INGRESS_MODES:
            _set_image(store, INGRESS_NS, gateway_name(mode, revision), proxy_image(version))


def _set_image(store: Store, namespace: str, name: str, image: str) -> None:
    deployment = store.find(DEPLOYMENT, namespace, name)
    if deployment is None:
        return
    new = copy.deepcopy(deployment)
    for container in new["spec"]["template"]["spec"]["containers"]:
        container["image"] = image
    replace(store, DEPLOYMENT, new)


def mirror_hpa(store: Store, hpa: Obj) -> None:
    """During a canary the stable (lower) revision's HPA spec wins: an edit of the stable HPA
    is copied to the canary's, and an edit of the canary's is reverted."""
    revision = (hpa["metadata"].get("labels") or {}).get("istio.io/rev")
    installed = installed_revisions(store)
    if revision not in installed or len(installed) < 2:
        return
    stable = installed[0]
    ns, name = hpa["metadata"]["namespace"], hpa["metadata"]["name"]
    source = store.find(HPA, ns, name.replace(revision, stable)) if revision != stable else hpa
    if source is None:
        return
    for other in installed[1:]:
        target = store.find(HPA, ns, source["metadata"]["name"].replace(stable, other))
        if target is not None:
            _copy_spec(store, source, target)


def _copy_spec(store: Store, source: Obj, target: Obj) -> None:
    spec = {k: v for k, v in target["spec"].items() if k not in HPA_SPEC_FIELDS}
    spec.update({k: copy.deepcopy(v) for k, v in source["spec"].items() if k in HPA_SPEC_FIELDS})
    if spec != target["spec"]:
        replace(store, HPA, dict(target, spec=spec))


def _mirror_all(store: Store) -> None:
    for ns in (SYSTEM_NS, INGRESS_NS):
        for hpa in store.list(HPA, ns):
            mirror_hpa(store, hpa)
