"""The names the AKS Istio add-on gives its parts (aks-arm.md §4): where its control plane
runs, how its gateways and the user's shared MeshConfig are named. Standard library only.
"""

from __future__ import annotations

ISTIO_NAMESPACE = "aks-istio-system"
INGRESS_NAMESPACE = "aks-istio-ingress"
EGRESS_NAMESPACE = "aks-istio-egress"
# The add-on's own namespaces: their pods come and go with the control plane of a revision.
ADDON_NAMESPACES = frozenset({ISTIO_NAMESPACE, INGRESS_NAMESPACE, EGRESS_NAMESPACE})
GATEWAY_PREFIX = "aks-istio-ingressgateway-"
SHARED_CONFIG = "istio-shared-configmap-{revision}"


def shared_config(revision: str) -> str:
    """The shared MeshConfig of `revision`, which the user keeps per revision."""
    return SHARED_CONFIG.format(revision=revision)


def tag_webhook_name(tag: str, istio_namespace: str = ISTIO_NAMESPACE) -> str:
    """istioctl's name for a revision tag's MutatingWebhookConfiguration."""
    suffix = "" if istio_namespace == "istio-system" else f"-{istio_namespace}"
    return f"istio-revision-tag-{tag}{suffix}"
