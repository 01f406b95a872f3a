"""Discovery documents built from the resource registry: /version, /api, /apis, /apis/<g>/<v>.

kubectl asks for the aggregated form (apidiscovery.k8s.io/v2) but falls back to the legacy
APIVersions / APIGroupList / APIResourceList documents when the answer's Content-Type is plain
`application/json` (kubectl-wire.md), so only the legacy forms are served.
"""

from __future__ import annotations

from typing import Any

from meshsim.kube.resources import ALL_VERBS, RESOURCE_TYPES, ResourceType, groups

Obj = dict[str, Any]

GIT_VERSION = "v1.30.6"
SERVER_ADDRESS = {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}
# Review kinds are create-only, as in the real registry.
CREATE_ONLY = {"SelfSubjectAccessReview"}


def server_minor() -> int:
    """The minor version served, for behaviour that changed between releases."""
    return int(GIT_VERSION.lstrip("v").split(".")[1])


def version(kubernetes_version: str = GIT_VERSION) -> Obj:
    """/version of a cluster on `kubernetes_version` (`1.27.100` or `v1.27.100`)."""
    git_version = "v" + kubernetes_version.lstrip("v")
    major, minor, _ = git_version.lstrip("v").split(".")
    return {"major": major, "minor": minor, "gitVersion": git_version,
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2024-10-22T00:00:00Z", "goVersion": "go1.22.8", "compiler": "gc",
            "platform": "linux/amd64"}


def core_versions() -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [SERVER_ADDRESS]}


def group_list() -> Obj:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(name, versions) for name, versions in groups().items()]}


def group(name: str) -> Obj | None:
    versions = groups().get(name)
    return None if versions is None else {"kind": "APIGroup", "apiVersion": "v1",
                                          **_group(name, versions)}


def _group(name: str, versions: list[str]) -> Obj:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def resource_list(group: str, version: str) -> Obj | None:
    """The APIResourceList of one group version, or None when it is not served."""
    types = [rt for rt in RESOURCE_TYPES if rt.group == group and rt.version == version]
    if not types:
        return None
    resources: list[Obj] = []
    for rt in types:
        resources.append(_resource(rt))
        if rt.has_status and rt.kind not in CREATE_ONLY:
            resources.append(_status(rt))
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": resources}


def _resource(rt: ResourceType) -> Obj:
    entry: Obj = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                  "kind": rt.kind, "verbs": verbs(rt)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def _status(rt: ResourceType) -> Obj:
    return {"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced,
            "kind": rt.kind, "verbs": ["get", "patch", "update"]}


def verbs(rt: ResourceType) -> list[str]:
    return ["create"] if rt.kind in CREATE_ONLY else list(ALL_VERBS)
