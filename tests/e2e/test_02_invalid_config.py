"""Scenario 2: an invalid config is rejected before anything changes, every error with its line."""

from __future__ import annotations

from cpctl.twin.twin import LocalTwin

from .conftest import Baseline, deploy, deployment_record, notifications_about, states_entered, version_record

# Two errors, on lines 5 and 9.
INVALID = b"""control-plane {
  token = ${?CONTROL_PLANE_TOKEN}
  locations = [
    {
      id = "prl_Not-Valid"
      type = "aws"
      region = "eu-west-1"
      ami { type = "certified" }
      security-groups = []
      instance-type = "c7i.xlarge"
      subnets = ["subnet-0123456789abcdef0"]
    }
  ]
}
"""


def test_an_invalid_config_leaves_the_service_untouched(twin: LocalTwin, baseline: Baseline) -> None:
    result = deploy(twin, INVALID)

    report = result.report
    assert report.status == "FAILED"
    assert report.error == "ConfigRejected"
    # Every error, with its line, in the Cause.
    cause = report.cause or ""
    assert "line 5" in cause and "prl_Not-Valid" in cause, cause
    assert "line 9" in cause and "security-groups" in cause, cause
    # Nothing was registered or rolled out: the service runs the last good revision and config.
    assert result.revisions_registered == 0
    assert len(twin.revisions()) == baseline.revision_count
    assert result.service.task_definition == baseline.task_definition
    assert result.service.config_version_id == baseline.version_id
    assert "Register pinned revision" not in states_entered(report)
    assert "Start rollout" not in states_entered(report)
    assert sorted(twin.gatling.location_ids()) == baseline.locations
    # Recorded and notified as rejected.
    assert deployment_record(twin, report.name)["outcome"] == "rejected"
    assert version_record(twin, result.version_id)["status"] == "rejected"
    assert notifications_about(twin, result.version_id)
