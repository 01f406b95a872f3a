"""Asks a cluster's API server what the bot's own identity may do (for `doctor`).

A SelfSubjectAccessReview per permission answers for whoever sends it, through every
authorizer the cluster runs (RBAC, and on AKS possibly Azure RBAC for Kubernetes), so it is
the truth the bot will meet, unlike reading the Roles. Creating one needs no permission of its
own: every authenticated user may (the system:basic-user ClusterRole).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from kubernetes.client import ApiClient, AuthorizationV1Api, VersionApi

from bot.kube.rest import KubeIO


class Reviewable(Protocol):
    """A permission that can be asked about (bot/runtime/permissions.py's `Permission`)."""

    def review_attributes(self) -> dict[str, str]: ...


P = TypeVar("P", bound=Reviewable)


@dataclass(frozen=True)
class Verdict(Generic[P]):
    permission: P
    allowed: bool
    reason: str  # the authorizer's words, when it gave any


def server_version(api: ApiClient) -> str:
    """The API server's version (GET /version): proves the address and credentials work."""
    info = KubeIO(api).call("get", "version", VersionApi(api).get_code)
    return str(info.git_version)


def review(api: ApiClient, permissions: Iterable[P]) -> list[Verdict[P]]:
    io, auth = KubeIO(api), AuthorizationV1Api(api)
    verdicts = []
    for p in permissions:
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": p.review_attributes()}}
        answer = io.raw("create", "selfsubjectaccessreviews",
                        auth.create_self_subject_access_review, body)
        status = answer.get("status") or {}
        verdicts.append(Verdict(p, bool(status.get("allowed")),
                                str(status.get("reason") or status.get("evaluationError") or "")))
    return verdicts
