"""Which namespaces point at which Istio revision, and relabelling them.

On AKS `istio.io/rev` on the namespace selects the injector (istio-kube.md §2): its value is a
revision or a tag. A namespace with an `istio-injection` label gets no sidecar from the add-on
(the `rev.*` webhooks require that label to be absent, and the add-on has no `default`
revision), unless someone made a `default` tag with istioctl: its webhooks inject
`istio-injection=enabled` namespaces, whatever their `istio.io/rev`. Namespaces whose label
does nothing are reported rather than counted. The bot's own namespace is never relabelled.
"""

from __future__ import annotations

from kubernetes.client import AdmissionregistrationV1Api, CoreV1Api

from bot.kube.rest import KubeIO, Obj
from bot.kube.tags import REV_LABEL, TAG_LABEL
from bot.upgrade.cluster_facts import DEFAULT_TAG, IgnoredLabel, NamespaceInjection
from bot.upgrade.errors import GiveUp

INJECTION_LABEL = "istio-injection"


class Namespaces:
    def __init__(self, io: KubeIO, core: CoreV1Api, admission: AdmissionregistrationV1Api,
                 own_namespace: str) -> None:
        self.io, self.core, self.admission = io, core, admission
        self.own_namespace = own_namespace

    def injection(self) -> tuple[NamespaceInjection, ...]:
        """Every namespace with an istio.io/rev or istio-injection label, resolved."""
        revisions, tags = self._targets()
        out = []
        for ns in self._labelled():
            labels = ns["metadata"].get("labels") or {}
            label, injection = labels.get(REV_LABEL), labels.get(INJECTION_LABEL)
            tag = label if label is not None and label in tags else None
            if injection == "enabled" and DEFAULT_TAG in tags:
                tag = DEFAULT_TAG
            revision = tags[tag] if tag else (label if label in revisions else None)
            out.append(NamespaceInjection(ns["metadata"]["name"], label, revision, tag,
                                          injection))
        return tuple(out)

    def by_revision(self) -> dict[str, tuple[str, ...]]:
        """Revision → namespaces whose new pods it injects (through a tag or directly)."""
        out: dict[str, list[str]] = {}
        for ns in self.injection():
            if ns.injected and ns.revision:
                out.setdefault(ns.revision, []).append(ns.name)
        return {rev: tuple(names) for rev, names in sorted(out.items())}

    def ignored_injection_labels(self) -> tuple[IgnoredLabel, ...]:
        """Namespaces whose istio-injection label does not do what it seems to on AKS."""
        out = []
        for ns in self.injection():
            if ns.istio_injection is None or (ns.istio_injection != "enabled" and ns.label is None):
                continue  # no label, or a plain "disabled" that means what it says
            if ns.injected and ns.label is None:
                continue  # istio-injection=enabled served by a default tag, as it seems
            out.append(IgnoredLabel(ns.name, ns.istio_injection, ns.label, _why(ns)))
        return tuple(out)

    def relabel(self, namespace: str, value: str) -> bool:
        """`kubectl label ns <ns> istio.io/rev=<value> --overwrite`; False if already so."""
        if namespace == self.own_namespace:
            raise GiveUp(f"Refusing to relabel {namespace}: it is the bot's own namespace.")
        current = self.io.raw("get", "namespaces", self.core.read_namespace, namespace)
        if (current["metadata"].get("labels") or {}).get(REV_LABEL) == value:
            return False
        body = {"metadata": {"labels": {REV_LABEL: value}}}
        self.io.call("patch", "namespaces", self.core.patch_namespace, namespace, body,
                     field_manager="mesh-upgrade-bot",
                     _content_type="application/merge-patch+json")
        return True

    def _labelled(self) -> list[Obj]:
        items: list[Obj] = []
        for selector in (REV_LABEL, f"{INJECTION_LABEL},!{REV_LABEL}"):
            data = self.io.raw("list", "namespaces", self.core.list_namespace,
                               label_selector=selector)
            items.extend(data.get("items") or [])
        items = [ns for ns in items if ns["metadata"]["name"] != self.own_namespace]
        return sorted(items, key=lambda ns: ns["metadata"]["name"])

    def _targets(self) -> tuple[set[str], dict[str, str]]:
        """Installed revisions, and tag → revision, from the injector webhooks' labels."""
        data = self.io.raw("list", "mutatingwebhookconfigurations",
                           self.admission.list_mutating_webhook_configuration,
                           label_selector=REV_LABEL)
        revisions: set[str] = set()
        tags: dict[str, str] = {}
        for hook in data.get("items") or []:
            labels = hook["metadata"].get("labels") or {}
            if TAG_LABEL in labels:
                tags[labels[TAG_LABEL]] = labels[REV_LABEL]
            else:
                revisions.add(labels[REV_LABEL])
        return revisions, tags


def _why(ns: NamespaceInjection) -> str:
    if ns.injected:
        return (f"istio-injection=enabled takes precedence over istio.io/rev={ns.label}: the "
                f"`default` tag injects {ns.revision} here. Remove one of the two labels.")
    if ns.label is not None:
        return (f"istio-injection={ns.istio_injection} takes precedence over "
                f"istio.io/rev={ns.label}: the add-on injects no sidecar here. "
                "Remove the istio-injection label.")
    return ("the AKS add-on has no default revision, so istio-injection=enabled injects nothing. "
            "Label the namespace istio.io/rev=<revision or tag> instead.")
