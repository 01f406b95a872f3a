"""The resource types the simulated API server knows, as discovery describes them."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    has_status: bool = True
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}"


def _rt(group: str, version: str, plural: str, kind: str, namespaced: bool = True,
        short: tuple[str, ...] = (), status: bool = True,
        cats: tuple[str, ...] = ()) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, short, status, cats)


RESOURCE_TYPES: tuple[ResourceType, ...] = (
    _rt("", "v1", "namespaces", "Namespace", False, ("ns",)),
    _rt("", "v1", "pods", "Pod", short=("po",), cats=("all",)),
    _rt("", "v1", "services", "Service", short=("svc",), cats=("all",)),
    _rt("", "v1", "configmaps", "ConfigMap", short=("cm",), status=False),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",), status=False),
    _rt("", "v1", "events", "Event", short=("ev",), status=False),
    _rt("apps", "v1", "deployments", "Deployment", short=("deploy",), cats=("all",)),
    _rt("apps", "v1", "statefulsets", "StatefulSet", short=("sts",), cats=("all",)),
    _rt("apps", "v1", "daemonsets", "DaemonSet", short=("ds",), cats=("all",)),
    _rt("apps", "v1", "replicasets", "ReplicaSet", short=("rs",), cats=("all",)),
    _rt("batch", "v1", "jobs", "Job", cats=("all",)),
    _rt("batch", "v1", "cronjobs", "CronJob", short=("cj",), cats=("all",)),
    _rt("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration", False, status=False),
    _rt("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration", False, status=False),
    _rt("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short=("hpa",),
        cats=("all",)),
    _rt("coordination.k8s.io", "v1", "leases", "Lease", status=False),
    _rt("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
        False),
)

BY_KEY = {rt.key: rt for rt in RESOURCE_TYPES}


def lookup(group: str, plural: str) -> ResourceType | None:
    return BY_KEY.get(f"{group}/{plural}")


def by_kind(kind: str) -> ResourceType:
    for rt in RESOURCE_TYPES:
        if rt.kind == kind:
            return rt
    raise KeyError(kind)


def groups() -> dict[str, list[str]]:
    """Group name -> its versions, core group excluded."""
    out: dict[str, list[str]] = {}
    for rt in RESOURCE_TYPES:
        if rt.group and rt.version not in out.setdefault(rt.group, []):
            out[rt.group].append(rt.version)
    return out
