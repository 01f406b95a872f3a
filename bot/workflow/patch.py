"""The patch flow: AKS rolled istiod to a new patch, sidecars follow only when pods restart.

The census finds pods whose `istio-proxy` image is not their revision's injector image (the
seed's patch steps 1-2); after an approval the outdated workloads restart in waves (step 3),
and the census is taken again to confirm nothing is left (step 3, "run step 2 again"). A Job's
running pod cannot be restarted and a finished pod need not be: the plan names them apart.
"""

from __future__ import annotations

from bot.upgrade.cluster_facts import Census
from bot.upgrade.kinds import StepKind
from bot.upgrade.phases import Action, Event
from bot.upgrade.plan import Plan, Settings, drift_waves
from bot.upgrade.pod_notes import finished_notes, job_note
from bot.upgrade.sidecar_mode import switch_note
from bot.workflow.steps import Ctx, StepResult, Wait, run_waves


def patch_plan(settings: Settings, census: Census, revision: str,
               kubernetes_version: str = "") -> Plan:
    """A Plan whose current and target are the same revision and whose waves are the drift;
    `kubernetes_version` tells whether restarted pods switch their sidecar mode."""
    waves = drift_waves(settings, census)
    notes = tuple(f"{p.workload}: pod {p.name} runs {p.image}, its injector gives "
                  f"{census.injector_images.get(p.revision or '', '?')}"
                  for p in census.drift[:20])
    switch = switch_note(census.modes, kubernetes_version, revision, revision)
    notes += (*(job_note(census.by_workload[w], revision) for w in waves.jobs),
              *finished_notes(census, revision), *([switch] if switch else []))
    return Plan(settings.cluster, revision, revision, settings.use_tags, settings.stable_tag,
                settings.canary_tag, ("", ""), (), (), waves.waves, waves.manual, waves.left,
                (), notes)


def patch_planned(ctx: Ctx) -> StepResult:
    return ctx.result(StepKind.AWAIT_APPROVAL,
                      "waiting for approval to restart the outdated workloads", Wait.APPROVAL,
                      actions=(Action.RESTART, Action.CANCEL))


def patch_restarting(ctx: Ctx) -> StepResult:
    wave = run_waves(ctx, lambda: drift_waves(ctx.settings, ctx.cluster.take_census()))
    return wave or ctx.move(Event.ROLLED_OUT, "every outdated workload restarted")


def patch_verifying(ctx: Ctx) -> StepResult:
    left = drift_waves(ctx.settings, ctx.cluster.take_census())
    outdated = [str(w) for wave in left.waves for w in wave]
    if not outdated:
        ctx.gate("patched", "passed")
        return ctx.move(Event.FINISHED, "every sidecar in scope runs its injector's image")
    # Replaced pods may still be terminating right after the last wave.
    ctx.gate("patched", "waiting", f"{len(outdated)} workload(s) still outdated")
    ctx.recheck(f"{len(outdated)} workload(s) still run an outdated sidecar: "
                f"{', '.join(outdated)}", "Approve another restart, or restart them by hand.")
