"""What istiod's injector does to a pod once the API server has called it.

`inject_required` is istiod's `injectRequired` and `inject` its `injectPod` (pkg/kube/inject,
istio @1.23.0 and @1.27.0): a pod that already carries `sidecar.istio.io/status` (copied from a
live pod, or `istioctl kube-inject` output) is first stripped of the containers that annotation
names (`stripPod`), then the revision's template (meshsim.kube.sidecar) is applied, so the pod
ends with exactly one sidecar, this revision's. Volumes merge by name as a strategic merge does.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from meshsim.catalogue import NATIVE_KUBERNETES, kubernetes_minor
from meshsim.kube import sidecar
from meshsim.kube.selectors import structured_matches
from meshsim.kube.store import Obj

IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease",
                                "local-path-storage"})
TRUTHY = frozenset({"y", "yes", "true", "on"})
STATUS = "sidecar.istio.io/status"
INJECT = "sidecar.istio.io/inject"
NATIVE = "sidecar.istio.io/nativeSidecar"
NATIVE_ENV = "ENABLE_NATIVE_SIDECARS"  # istiod's switch, read by its injector
PROMETHEUS = ("prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path")
STRICT_INJECT_MINOR = 27  # from 1.27 only "true"/"false" count; anything else is the default
ANNOTATION_MINOR = 24  # the first template that reads `sidecar.istio.io/nativeSidecar`
NEWEST_MINOR = 99  # an image tag without a version (`latest`): today's template


@dataclass(frozen=True)
class Injector:
    """One revision's injection settings: its injector ConfigMap, and whether its istiod runs
    with native sidecars (ENABLE_NATIVE_SIDECARS, resolved by the caller)."""

    revision: str
    namespace: str  # the control plane's namespace
    proxy_image: str
    init_image: str
    policy: str = "enabled"
    never: tuple[Obj, ...] = ()
    always: tuple[Obj, ...] = ()
    native: bool = False
    minor: int = NEWEST_MINOR  # the template's Istio minor, from the proxy image tag

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
    proxy_image = _image(glob, proxy)
    return Injector(revision, namespace, proxy_image, _image(glob, init),
                    config.get("policy", "enabled"),
                    tuple(config.get("neverInjectSelector") or ()),
                    tuple(config.get("alwaysInjectSelector") or ()), minor=_minor(proxy_image))


def _minor(image: str) -> int:
    """`…/proxyv2:1.27.9-distroless` -> 27."""
    found = re.search(r":1\.(\d+)\.", image)
    return int(found.group(1)) if found else NEWEST_MINOR


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
    explicit = _explicit_choice(injector, labels.get(INJECT, (meta.get("annotations") or {})
                                                     .get(INJECT, "")))
    if explicit is not None:
        return explicit
    if any(structured_matches(sel, labels) for sel in injector.never):
        return False
    if any(structured_matches(sel, labels) for sel in injector.always):
        return True
    return injector.policy == "enabled"


def _explicit_choice(injector: Injector, value: str) -> bool | None:
    """The label (or annotation) `sidecar.istio.io/inject`, None where the policy decides."""
    if injector.minor >= STRICT_INJECT_MINOR:
        return {"true": True, "false": False}.get(value)
    return value.lower() in TRUTHY if value else None


def inject(injector: Injector, pod: Obj) -> Obj:
    """The pod with this revision's sidecar (a new dict; `pod` is not changed)."""
    pod = strip(pod)
    meta, spec = pod["metadata"], pod["spec"]
    native = _native(injector, meta)
    labels = meta["labels"]
    labels["security.istio.io/tlsMode"] = labels.get("security.istio.io/tlsMode") or "istio"
    labels["service.istio.io/canonical-name"] = _canonical_name(meta)
    labels["service.istio.io/canonical-revision"] = (
        labels.get("service.istio.io/canonical-revision") or labels.get("app.kubernetes.io/version")
        or labels.get("version") or "latest")
    _annotate(meta["annotations"], injector, spec["containers"], native)
    _add_containers(injector, pod, native)
    spec["volumes"] = _merge_by_name(spec.get("volumes") or [], sidecar.volumes(injector.minor))
    return pod


def strip(pod: Obj) -> Obj:
    """istiod's stripPod: a copy without what an earlier injection (named by the status
    annotation) added: its containers, init containers, status and Prometheus annotations."""
    meta = dict(pod["metadata"], labels=dict(pod["metadata"].get("labels") or {}),
                annotations=dict(pod["metadata"].get("annotations") or {}))
    spec = dict(pod.get("spec") or {})
    spec["containers"] = list(spec.get("containers") or [])
    spec["initContainers"] = list(spec.get("initContainers") or [])
    notes = meta["annotations"]
    previous = _status(notes.pop(STATUS, None))
    for key in ("containers", "initContainers"):
        names = set(previous.get(key) or ())
        spec[key] = [c for c in spec[key] if c.get("name") not in names]
    if previous and notes.get("prometheus.io/port") == sidecar.STATUS_PORT:
        for key in PROMETHEUS:
            notes.pop(key, None)
    return dict(pod, metadata=meta, spec=spec)


def _status(text: str | None) -> Obj:
    try:
        parsed = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:  # istiod logs the error and strips nothing
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _native(injector: Injector, meta: Obj) -> bool:
    """The pod's `sidecar.istio.io/nativeSidecar` annotation (templates from 1.24) wins over
    istiod's setting: from 1.27 any value but "false" means native, before only "true"."""
    choice = str(meta["annotations"].get(NATIVE) or "")
    if not choice or injector.minor < ANNOTATION_MINOR:
        return injector.native
    return choice != "false" if injector.minor >= STRICT_INJECT_MINOR else choice == "true"


def _annotate(notes: Obj, injector: Injector, containers: list[Obj], native: bool) -> None:
    apps = [c["name"] for c in containers if c.get("name") != "istio-proxy"]
    if apps:  # only when not already chosen (the template's `if not isset`)
        notes.setdefault("kubectl.kubernetes.io/default-container", apps[0])
        notes.setdefault("kubectl.kubernetes.io/default-logs-container", apps[0])
    notes.update({
        "istio.io/rev": injector.revision,
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/port": sidecar.STATUS_PORT,
        "prometheus.io/scrape": "true",
        STATUS: sidecar.status(injector.revision, injector.minor, native),
    })


def _add_containers(injector: Injector, pod: Obj, native: bool) -> None:
    """reorderPod: classic, the proxy runs last and `istio-init` is the last init container;
    native, `istio-init` then `istio-proxy` come before the app's init containers."""
    spec = pod["spec"]
    discovery = f"istiod-{injector.revision}.{injector.namespace}.svc:15012"
    proxy = sidecar.proxy_container(injector.proxy_image, discovery,
                                    _canonical_name(pod["metadata"]), injector.minor, native)
    init = sidecar.init_container(injector.init_image)
    if native:
        spec["initContainers"] = [init, proxy, *spec["initContainers"]]
    else:
        spec["initContainers"] = [*spec["initContainers"], init]
        spec["containers"] = [*spec["containers"], proxy]


def _merge_by_name(existing: list[Obj], added: list[Obj]) -> list[Obj]:
    """`volumes` has patchMergeKey `name`: a template volume replaces its namesake in place."""
    fresh = {v["name"]: v for v in added}
    out = [fresh.pop(v.get("name"), v) for v in existing]
    return out + list(fresh.values())


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


def istiod_native(setting: str | None, minor: int, kubelet_version: str) -> bool:
    """istiod's ENABLE_NATIVE_SIDECARS: before 1.27 only "true" enables; from 1.27 unset means
    "auto", native when every kubelet is 1.33+ (webhook.go `DetectNativeSidecar`)."""
    if minor < STRICT_INJECT_MINOR:
        return setting == "true"
    value = setting or "auto"
    if value == "auto":
        return kubernetes_minor(kubelet_version) >= NATIVE_KUBERNETES
    return value == "true"  # "false", or an unknown value istiod reads as false
