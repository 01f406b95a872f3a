"""deploy/ as the cluster would receive it: `kubectl kustomize` output, and the RBAC it grants.

`grants` follows the bindings of the rendered manifests to the bot's ServiceAccount, so a rule
in a Role nobody binds grants nothing; `allows` decides a request the way the API server's RBAC
authorizer does for rules without wildcards (which deploy/ never uses): a rule with
resourceNames allows only requests that name one of them, so never a `create` or an unnamed
`list`. Plus what every authenticated user may do anyway (`system:basic-user`).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HA = DEPLOY / "overlays" / "ha"
COMPONENTS = DEPLOY / "components"
KUBERNETES = "1.30.0"  # the schemas kubernetes-validate checks against
BOT = "mesh-upgrade-bot"  # the namespace and the ServiceAccount
Doc = dict[str, Any]
# Granted to every authenticated user by the default ClusterRoleBinding system:basic-user;
# `doctor` asks its SelfSubjectAccessReviews through it, so deploy/ need not grant it.
BASIC_USER = frozenset({("authorization.k8s.io", "selfsubjectaccessreviews", "create"),
                        ("authorization.k8s.io", "selfsubjectrulesreviews", "create")})


@functools.cache
def render(path: Path = DEPLOY) -> tuple[Doc, ...]:
    """`kubectl kustomize <path>`, parsed; fails (never skips) without kubectl, as CI has it."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render deploy/ (`kubectl kustomize`)")
    done = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def overlay(where: Path, base: Path, *components: str) -> Path:
    """An overlay of the operator's own in `where`: `base` plus deploy/components/<name>...,
    in that order (the release component last, as the components' comments say)."""
    where.mkdir(parents=True, exist_ok=True)
    rel = [os.path.relpath(p, where) for p in (base, *(COMPONENTS / c for c in components))]
    (where / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": rel[:1], "components": rel[1:]}))
    return where


def of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: Iterable[Doc], kind: str) -> Doc:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


@dataclass(frozen=True, order=True)
class Grant:
    """`verb` on `group`/`resource`; namespace "" is cluster-wide (a ClusterRoleBinding), name
    "" any object (a rule without resourceNames)."""

    namespace: str
    group: str
    resource: str
    verb: str
    name: str = ""

    def __str__(self) -> str:
        where = self.namespace or "cluster-wide"
        named = f" {self.name}" if self.name else ""
        return f"{self.verb} {self.group or 'core'}/{self.resource}{named} ({where})"

    def any_name(self) -> Grant:
        return replace(self, name="")


class Request(Protocol):
    """What the authorizer sees: meshsim's RequestAttributes and RequestRecord both fit."""

    @property
    def verb(self) -> str: ...
    @property
    def api_group(self) -> str: ...
    @property
    def resource(self) -> str: ...
    @property
    def subresource(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...


def grants(docs: Iterable[Doc], namespace: str = BOT, account: str = BOT) -> frozenset[Grant]:
    """Every (namespace, group, resource, verb) the roles bound to the account grant."""
    docs = list(docs)
    roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
             for d in docs if d["kind"] in ("Role", "ClusterRole")}
    out: set[Grant] = set()
    for binding in of_kind(docs, "RoleBinding") + of_kind(docs, "ClusterRoleBinding"):
        if not _binds(binding, namespace, account):
            continue
        where = binding["metadata"].get("namespace", "")  # "" for a ClusterRoleBinding
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], where if ref["kind"] == "Role" else "", ref["name"]))
        assert role is not None, f"{binding['metadata']['name']} binds a missing {ref}"
        out |= {Grant(where, *g) for rule in role.get("rules", []) for g in _triples(rule)}
    return frozenset(out)


def _binds(binding: Doc, namespace: str, account: str) -> bool:
    return any(s.get("kind") == "ServiceAccount" and s.get("name") == account
               and s.get("namespace") == namespace for s in binding.get("subjects", []))


def _triples(rule: Doc) -> Iterable[tuple[str, str, str, str]]:
    """(group, resource, verb, name) of a rule; name "" when it has no resourceNames."""
    assert "nonResourceURLs" not in rule, rule
    for field in ("apiGroups", "resources", "verbs", "resourceNames"):
        assert "*" not in rule.get(field, ()), f"a wildcard in {field}: {rule}"
    names = rule.get("resourceNames") or [""]
    return ((g, r, v, n) for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"] for n in names)


def matching(granted: Iterable[Grant], request: Request) -> list[Grant]:
    """The grants that allow `request`: cluster-wide ones, or a Role's in its namespace."""
    resource = request.resource + (f"/{request.subresource}" if request.subresource else "")
    return [g for g in granted
            if (g.group, g.resource, g.verb) == (request.api_group, resource, request.verb)
            and g.namespace in ("", request.namespace) and g.name in ("", request.name)]


def allows(granted: frozenset[Grant], request: Request) -> bool:
    if (request.api_group, request.resource, request.verb) in BASIC_USER:
        return True
    return bool(matching(granted, request))
