"""Scenario 5: the task runs but the control plane never answers: rolled back after the deadline."""

from __future__ import annotations

from cpctl.twin.twin import LocalTwin

from .conftest import Baseline, changed_config, deploy, restored_revision, states_entered

UP_DEADLINE_SECONDS = 300  # ControlPlaneUpDeadlineMinutes' default


def test_a_control_plane_never_up_is_rolled_back_after_the_deadline(
    twin: LocalTwin, baseline: Baseline
) -> None:
    result = deploy(twin, changed_config(), "never-up")

    report = result.report
    assert report.status == "FAILED"
    assert report.error == "DeploymentRolledBack"
    cause = report.cause or ""
    assert "not up within 300 s" in cause, cause
    assert "/info" in cause, cause
    # Rolled back only once the deadline had passed, in simulated time.
    step = next(s for s in report.states if s.name == "Wait for control plane up")
    roll_back = next(s for s in report.states if s.name == "Roll back")
    assert roll_back.entered - step.entered >= UP_DEADLINE_SECONDS
    assert "Roll back" in states_entered(report)
    assert result.rolled_back
    # Back on the last good revision's config and software (its image-pinned copy).
    assert (
        restored_revision(twin, result.service.task_definition) == baseline.task_definition.rsplit("/", 1)[-1]
    )
    assert result.service.config_version_id == baseline.version_id
