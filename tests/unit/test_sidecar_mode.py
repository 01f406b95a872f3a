"""AKS's native-sidecar rule (Kubernetes 1.33+, asm-1-27/28 on fresh installs, asm-1-29+ always)
and the notes the minor and patch plans make when restarted pods switch mode."""

from __future__ import annotations

import pytest

from bot.upgrade.cluster_facts import Census
from bot.upgrade.mesh_facts import UpgradeOptions
from bot.upgrade.plan import Observation, Settings, make_plan
from bot.upgrade.sidecar_mode import SidecarMode, mode_after_restart, switch_note
from bot.workflow.patch import patch_plan

CLASSIC, NATIVE = SidecarMode.CLASSIC, SidecarMode.NATIVE


@pytest.mark.parametrize(("kubernetes", "revision", "upgraded", "mode"), [
    ("1.32.5", "asm-1-29", True, CLASSIC),  # below 1.33: always classic
    ("1.33.0", "asm-1-26", False, CLASSIC),  # below asm-1-27: always classic
    ("1.33.1", "asm-1-27", True, CLASSIC),  # an upgrade to asm-1-27 does not enable it
    ("1.33.1", "asm-1-27", False, None),  # asm-1-27 restarted in place: depends on its install
    ("1.33.2", "asm-1-28", True, CLASSIC),  # asm-1-28 is a transition release too
    ("1.33.2", "asm-1-29", True, NATIVE),
    ("v1.34", "asm-1-30", False, NATIVE),
    ("", "asm-1-29", True, None),  # Kubernetes version unknown
    ("1.33", "prod-stable", True, None),  # not a revision
])
def test_mode_after_restart_follows_the_aks_rule(kubernetes: str, revision: str,
                                                 upgraded: bool, mode: SidecarMode | None) -> None:
    assert mode_after_restart(kubernetes, revision, upgraded=upgraded) is mode


def test_switch_note_counts_the_pods_that_run_the_other_mode() -> None:
    modes = {"asm-1-27": {"classic": 41}}
    assert switch_note(modes, "1.33.2", "asm-1-27", "asm-1-29") == (
        "pods restarted onto asm-1-29 get istio-proxy as a native sidecar (an init container); "
        "41 pods on asm-1-27 run it as a classic container (a Job's pod then ends when its app "
        "exits)")
    assert switch_note(modes, "1.32.9", "asm-1-27", "asm-1-29") is None
    assert switch_note({"asm-1-29": {"native": 3}}, "1.33.2", "asm-1-29", "asm-1-30") is None


def test_rolling_back_to_a_classic_revision_names_the_native_pods() -> None:
    note = switch_note({"asm-1-29": {"native": 1, "classic": 2}}, "1.33.0", "asm-1-29",
                       "asm-1-26")
    assert note is not None
    assert note.startswith("pods restarted onto asm-1-26 get istio-proxy as a classic container;"
                           " 1 pod on asm-1-29 runs it as a native sidecar")
    assert "/quitquitquit" in note


def census_with_modes(modes: dict[str, dict[str, int]]) -> Census:
    return Census(0, 0, {}, {}, {}, {}, {}, (), 1, modes=modes)


def test_the_minor_plan_says_when_the_canary_switches_the_mode() -> None:
    seen = Observation((), census_with_modes({"asm-1-27": {"classic": 41}}), ())
    options = UpgradeOptions("asm-1-27", ("asm-1-29",), {})

    switching = make_plan(Settings("aks1"), options, seen, kubernetes_version="1.33.2")
    unknown = make_plan(Settings("aks1"), options, seen)

    assert any(n.startswith("pods restarted onto asm-1-29 get istio-proxy as a native sidecar")
               and "41 pods on asm-1-27" in n for n in switching.notes)
    assert not any("istio-proxy as" in n for n in unknown.notes)


def test_the_patch_plan_says_when_a_restart_switches_the_mode() -> None:
    census = census_with_modes({"asm-1-29": {"classic": 5, "native": 2}})

    after_kubernetes_upgrade = patch_plan(Settings("aks1"), census, "asm-1-29", "1.33.0")
    on_asm_1_27 = patch_plan(Settings("aks1"), census_with_modes({"asm-1-27": {"classic": 5}}),
                             "asm-1-27", "1.33.0")

    assert any("5 pods on asm-1-29 run it as a classic container" in n
               for n in after_kubernetes_upgrade.notes)
    assert not any("istio-proxy as" in n for n in on_asm_1_27.notes)
