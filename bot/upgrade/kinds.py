"""What a workflow step did and what an audit entry records, as names that never change with
the wording of a message: metrics, the card and the thread key on these, never on text.
"""

from __future__ import annotations

from enum import StrEnum


class StepKind(StrEnum):
    """One advance of a run (the `step` label of mesh_upgrade_step_duration_seconds)."""

    AWAIT_APPROVAL = "await_approval"
    CONFIG_COPY = "config_copy"
    ARM_PUT = "arm_put"
    ARM_POLL = "arm_poll"
    ARM_DONE = "arm_done"
    TAGS = "tags"
    CONTROL_PLANE = "control_plane"
    MOVE_NAMESPACES = "move_namespaces"
    RESTART_WAVE = "restart_wave"
    SOAK = "soak"
    GATE = "gate"
    TRAFFIC = "traffic"  # a baseline or an observation of the traffic gates
    WINDOW = "window"  # waiting for the change window
    CLEAN_UP = "clean_up"
    TRANSITION = "transition"
    RETRY = "retry"
    PAUSE = "pause"
    FAIL = "fail"
    LOOK = "look"  # a finished or paused run was looked at: nothing ran


class AuditKind(StrEnum):
    """One entry of the audit (and one reply in the run's thread)."""

    RUN_REQUESTED = "run_requested"
    REQUESTED = "requested"  # an action asked for (detail: action)
    APPROVED = "approved"  # detail: action, run_version, satisfied
    REFUSED = "refused"  # a click the policy refused (detail: action, verdict, why)
    EXPIRED = "expired"  # a request nobody approved in time
    RESUMED = "resumed"
    GATE_REFUSED = "gate_refused"  # complete refused: something is left on the old revision
    PAUSED = "paused"
    PHASE_CHANGED = "phase_changed"
    ARM_PUT = "arm_put"
    ARM_SUCCEEDED = "arm_succeeded"
    ARM_FAILED = "arm_failed"
    CONFIG_COPIED = "config_copied"
    CONFIG_DELETED = "config_deleted"
    TAG_SET = "tag_set"
    TAG_REMOVED = "tag_removed"
    TAG_KEPT = "tag_kept"  # the canary tag stays: namespaces out of scope use it
    NAMESPACE_LABELLED = "namespace_labelled"
    WAVES_PLANNED = "waves_planned"
    RESTART_WAVE = "restart_wave"
    TRAFFIC_VERDICT = "traffic_verdict"  # detail: gate, wave, of, verdict (Verdict.to_json())
    TRAFFIC_OVERRIDDEN = "traffic_overridden"  # detail: gate, reason, outcome (a person's)
    WINDOW_WAIT = "window_wait"  # detail: what, opens_at, freeze, windows
    WINDOW_OVERRIDDEN = "window_overridden"  # a rollback now, outside a window: detail: reason
    NOTE = "note"  # anything else worth keeping


# Entries that say something did not happen, or went wrong.
FAILURES = frozenset({AuditKind.REFUSED, AuditKind.EXPIRED, AuditKind.GATE_REFUSED,
                      AuditKind.PAUSED, AuditKind.ARM_FAILED})
# Entries whose text is the command a person would have typed (kubectl, istioctl).
COMMANDS = frozenset({AuditKind.TAG_SET, AuditKind.TAG_REMOVED, AuditKind.NAMESPACE_LABELLED,
                      AuditKind.CONFIG_DELETED})
