"""The first `sam deploy` on an empty account, then the first upload: what a new user lives through.

CloudFormation waits for an `AWS::ECS::Service` to stabilize and fails the create when its
deployment fails (AWS::ECS::Service, CloudFormation User Guide); the twin's create waits the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cpctl.twin.deployments import deploy_initial
from cpctl.twin.twin import LocalTwin, TwinError, TwinOptions
from tests.conftest import TEMPLATE_PATH
from tests.e2e.conftest import WALL_TIMEOUT


def test_the_stack_creates_with_an_empty_bucket_and_the_first_upload_deploys() -> None:
    with LocalTwin() as twin:
        service = twin.service()
        assert service.running_count == 0, "the stack itself starts no control plane"
        assert service.deployments[0]["rolloutState"] == "COMPLETED"
        assert twin.client("s3").list_object_versions(Bucket=twin.bucket).get("Versions", []) == []
        assert twin.executions() == []

        result = deploy_initial(twin, wall_timeout=WALL_TIMEOUT)

        assert result.report.status == "SUCCEEDED"
        after = twin.service()
        assert after.running_count == 1
        assert after.config_version_id is not None, "the workflow runs a revision pinned to the upload"


def test_a_service_that_starts_a_task_on_create_fails_the_stack_on_an_empty_bucket(tmp_path: Path) -> None:
    # The same template with the service asking for a task on create: its side-car finds no config.
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert text.count("DesiredCount: 0") == 1
    template = TEMPLATE_PATH.parent / f".{tmp_path.name}-template.yaml"  # beside it: CodeUri is relative
    template.write_text(text.replace("DesiredCount: 0", "DesiredCount: 1"), encoding="utf-8")
    try:
        with pytest.raises(
            TwinError, match=r"CREATE_FAILED: Service \(AWS::ECS::Service\): ECS deployment circuit breaker"
        ):
            LocalTwin(TwinOptions(template=template)).start()
    finally:
        template.unlink()
