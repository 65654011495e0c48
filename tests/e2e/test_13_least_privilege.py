"""Scenario 13: every permission a function is granted is one its calls need, as the twin recorded them.

The twin decides every AWS call of every function under that function's role (cpctl/twin/iam_calls.py).
Here the workflow and the health check live through what they are for (deploys, a rejected config, a
failing rollout and its rollback, a crash in the bake and its rollback, a wait for a load test run,
a manual rollback, pruning, a stack update and its drift heal);
then each function's granted actions are compared with the actions its calls were authorized for.
"""

from __future__ import annotations

from typing import Any

from cpctl.twin.deployments import deploy_initial
from cpctl.twin.iam_eval import Decision
from cpctl.twin.twin import LocalTwin, TwinOptions
from tests.conftest import load_template
from tests.template.policies import actions, policy_statements

from .conftest import WALL_TIMEOUT, config_with_location, deploy
from .test_02_invalid_config import INVALID

# Granted, and needed, on paths these scenarios do not walk: (function, action, the path that needs it).
_NOT_WALKED = [
    ("AdmitDeploymentFunction", "states:DescribeExecution", "a lock whose holder is checked for liveness"),
    ("AdmitDeploymentFunction", "dynamodb:UpdateItem", "an upload found stale or superseded is marked so"),
    ("AdmitDeploymentFunction", "s3:GetObject", "a manual redeploy of the latest version reads its head"),
    (
        "RollBackFunction",
        "ecs:UpdateService",
        "a rollback the workflow starts itself (ECS had not rolled back)",
    ),
    (
        "RollBackFunction",
        "logs:GetLogEvents",
        "an up-check failure is explained with the control plane's lines",
    ),
    (
        "RollBackFunction",
        "s3:ListBucketVersions",
        "a rollback onto an unpinned revision finds the version before",
    ),
    ("RollBackFunction", "s3:GetObjectVersion", "the same: it reads that version"),
    ("RollBackFunction", "ecs:RegisterTaskDefinition", "the same: it pins the unpinned revision"),
    ("RollBackFunction", "ecs:TagResource", "the same: the pinned revision is tagged on create"),
    ("RollBackFunction", "iam:PassRole", "the same: registering passes the task roles"),
    ("HealthCheckFunction", "dynamodb:Query", "the stopped-task history when a check fails"),
    (
        "AwaitRolloutFunction",
        "ecs:ListServiceDeployments",
        "a deployment DescribeServices has not listed past the grace window (scenario 14)",
    ),
    ("AwaitRolloutFunction", "ecs:DescribeServiceDeployments", "the same"),
    (
        "RollBackFunction",
        "ecs:ListServiceDeployments",
        "Start rollout failed: was the service changed anyway?",
    ),
    ("RollBackFunction", "ecs:DescribeServiceDeployments", "a rollback's own wait past the grace window"),
]
NOT_WALKED = {(function, action) for function, action, _ in _NOT_WALKED}


def granted_actions() -> dict[str, set[str]]:
    resources = load_template()["Resources"]
    granted: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        granted[logical_id] = {
            action
            for _, statement in policy_statements(resource, resources)
            if statement.get("Effect") == "Allow"
            for action in actions(statement)
        }
    return granted


def test_every_granted_action_is_used_and_every_call_is_allowed() -> None:
    # Token secrets under a customer managed key: their readers walk the kms:Decrypt grant too.
    with LocalTwin(TwinOptions(parameters={"KeepRevisions": "2"}, secrets_kms_key=True)) as twin:
        deploy_initial(twin, wall_timeout=WALL_TIMEOUT)
        assert deploy(twin, config_with_location("prl_extra_one")).report.status == "SUCCEEDED"
        assert deploy(twin, INVALID).report.error == "ConfigRejected"
        failing = deploy(twin, config_with_location("prl_extra_two"), "task-fails-to-start")
        assert failing.report.error == "DeploymentRolledBack", failing.report.cause
        crashing = deploy(twin, config_with_location("prl_extra_crash"), "crash-after-up")
        assert crashing.report.error == "DeploymentRolledBack", crashing.report.cause
        waited = deploy(twin, config_with_location("prl_extra_waits"), "run-in-progress")
        assert waited.report.status == "SUCCEEDED", waited.report.cause
        older = deploy(twin, config_with_location("prl_extra_three"))
        assert older.report.status == "SUCCEEDED"
        assert deploy(twin, config_with_location("prl_extra_four")).report.status == "SUCCEEDED"
        arn = twin.start_manual({"version_id": older.version_id, "reason": "roll back by hand"})
        assert twin.wait_for_execution(arn, wall_timeout=WALL_TIMEOUT).status == "SUCCEEDED"
        twin.update_stack({"ControlPlaneImage": "gatlingcorp/control-plane:1.99.0"})
        twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)
        records = list(twin.authorizer.records)

    denied = [(r.function, r.operation, r.checks) for r in records if r.decision is not Decision.ALLOW]
    assert denied == [], f"calls the functions' roles do not allow: {denied}"
    used: dict[str, set[str]] = {}
    for record in records:
        used.setdefault(record.function, set()).update(action for action, _, _ in record.checks)
    unused: dict[str, Any] = {}
    for function, allowed in sorted(granted_actions().items()):
        extra = {a for a in allowed - used.get(function, set()) if (function, a) not in NOT_WALKED}
        if extra:
            unused[function] = sorted(extra)
    assert unused == {}, f"granted but never needed by any call of the scenarios: {unused}"
    granted = granted_actions()
    stale = [key for key in NOT_WALKED if key[1] not in granted.get(key[0], set())]
    assert stale == [], f"listed as needed elsewhere but no longer granted: {stale}"
