"""The deployment workflow's half of template.yaml: each test fails if the stack drifts from what the
handlers, the ASL and the docs rely on."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pytest
from controlplane.records import TTL_ATTRIBUTE
from controlplane.settings import Settings

from cpctl.twin.iam_eval import wildcard_match
from tests.conftest import REPO_ROOT
from tests.template.policies import actions, policy_statements
from tests.template.test_health_template import translated

FUNCTIONS = {
    "AdmitDeploymentFunction": "admit_deployment",
    "ValidateConfigFunction": "validate_config",
    "RegisterRevisionFunction": "register_revision",
    "StartRolloutFunction": "start_rollout",
    "AwaitRolloutFunction": "await_rollout",
    "AwaitControlPlaneUpFunction": "await_control_plane_up",
    "AwaitLoadTestsFunction": "await_load_tests",
    "BakeControlPlaneFunction": "bake_control_plane",
    "RollBackFunction": "roll_back",
    "RecordOutcomeFunction": "record_outcome",
}
# AWS supports no resource-level permission for these; ListTasks is conditioned on the cluster instead.
UNSCOPABLE = {
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ecs:DeregisterTaskDefinition",
    "ecs:ListTasks",
}


def props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(resources[logical_id]["Properties"])


def environment(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def test_pruning_always_keeps_the_last_good_and_the_new_revision(template: dict[str, Any]) -> None:
    assert template["Parameters"]["KeepRevisions"]["MinValue"] >= 2


def test_outputs_name_the_workflow(template: dict[str, Any]) -> None:
    assert {"StateMachineArn", "RecordsTableName", "NotificationTopicArn", "CheckerSecurityGroupId"} <= set(
        template["Outputs"]
    )


def test_functions_share_one_code_uri_runtime_and_tracing(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    function = template["Globals"]["Function"]
    assert (function["Runtime"], function["Architectures"], function["CodeUri"]) == (
        "python3.13",
        ["arm64"],
        "functions/",
    )
    assert function["Tracing"] == "Active"
    for logical_id, module in FUNCTIONS.items():
        assert resources[logical_id]["Type"] == "AWS::Serverless::Function"
        assert props(resources, logical_id)["Handler"] == f"{module}/app.lambda_handler"
        assert (REPO_ROOT / "functions" / module / "app.py").is_file()
        assert "CodeUri" not in props(resources, logical_id)
    workflow_functions = {
        k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function" and k in FUNCTIONS
    }
    assert workflow_functions == set(FUNCTIONS)


def test_every_environment_variable_is_a_setting(template: dict[str, Any]) -> None:
    known = {field.encode_name for field in msgspec.structs.fields(Settings)}
    required = {field.encode_name for field in msgspec.structs.fields(Settings) if field.required}
    for logical_id in FUNCTIONS:
        names = set(environment(template, logical_id))
        assert required <= names, logical_id
        # Read by Powertools itself, not by the settings.
        assert names - known <= {"POWERTOOLS_LOG_LEVEL"}, f"{logical_id}: {names - known}"


def test_waiting_functions_return_within_their_timeout(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    budget = float(template["Globals"]["Function"]["Environment"]["Variables"]["INVOCATION_BUDGET_SECONDS"])
    for logical_id in (
        "AdmitDeploymentFunction",
        "AwaitRolloutFunction",
        "AwaitControlPlaneUpFunction",
        "AwaitLoadTestsFunction",
        "BakeControlPlaneFunction",
        "RollBackFunction",
    ):
        timeout = props(resources, logical_id)["Timeout"]
        assert budget + 2 * 30 <= timeout <= 900, logical_id


def test_settings_follow_their_parameters(template: dict[str, Any]) -> None:
    assert environment(template, "StartRolloutFunction")["DEPLOYMENT_DEADLINE_MINUTES"] == {
        "Ref": "DeploymentDeadlineMinutes"
    }
    assert environment(template, "RollBackFunction")["DEPLOYMENT_DEADLINE_MINUTES"] == {
        "Ref": "DeploymentDeadlineMinutes"
    }
    checker = environment(template, "AwaitControlPlaneUpFunction")
    assert checker["CONTROL_PLANE_UP_DEADLINE_MINUTES"] == {"Ref": "ControlPlaneUpDeadlineMinutes"}
    assert checker["GATLING_API_URL"] == {"Ref": "GatlingApiUrl"}
    assert checker["GATLING_API_TOKEN_SECRET_ARN"] == {"Ref": "GatlingApiTokenSecretArn"}
    assert checker["SERVER_PORT"] == {"Ref": "ServerPort"}
    assert environment(template, "RecordOutcomeFunction")["KEEP_REVISIONS"] == {"Ref": "KeepRevisions"}
    assert environment(template, "AdmitDeploymentFunction")["QUEUE_WAIT_MINUTES"] == {
        "Ref": "QueueWaitMinutes"
    }
    assert template["Globals"]["Function"]["Environment"]["Variables"]["POLL_INTERVAL_SECONDS"] == {
        "Ref": "PollIntervalSeconds"
    }


@pytest.mark.parametrize(
    ("variable", "condition"),
    [
        ("CONTEXT_TOKEN_INJECTED", "HasTokenSecret"),
        ("CONTEXT_PASS_ROLE_CONFIGURED", "HasLoadGeneratorRole"),
        ("CONTEXT_ELASTIC_IPS_CONFIGURED", "HasElasticIps"),
        ("CONTEXT_PRIVATE_PACKAGES_BUCKET_CONFIGURED", "HasPrivatePackagesBucket"),
    ],
)
def test_the_validator_gets_the_stack_s_deployment_context(
    template: dict[str, Any], variable: str, condition: str
) -> None:
    env = environment(template, "ValidateConfigFunction")
    assert env[variable] == {"Fn::If": [condition, "true", "false"]}
    assert env["SERVER_PORT"] == {"Ref": "ServerPort"}


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_each_function_s_statements_are_scoped(resources: dict[str, Any], logical_id: str) -> None:
    # Which actions each function needs is proved by its recorded calls (tests/e2e/test_13_least_privilege.py).
    statements = policy_statements(resources[logical_id], resources)
    for _, statement in statements:
        assert statement["Effect"] == "Allow"
        assert not any(a.endswith("*") for a in actions(statement)), "no wildcard actions"
        if statement["Resource"] == "*":
            assert actions(statement) <= UNSCOPABLE, f"{logical_id}: {actions(statement)} on *"
        if "ecs:ListTasks" in actions(statement):
            assert statement["Condition"] == {
                "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["Cluster", "Arn"]}}
            }


def test_pass_role_is_only_for_the_task_and_execution_roles(resources: dict[str, Any]) -> None:
    for logical_id in FUNCTIONS:
        for _, statement in policy_statements(resources[logical_id], resources):
            if "iam:PassRole" in actions(statement):
                assert actions(statement) == {"iam:PassRole"}
                assert statement["Resource"] == [
                    {"Fn::GetAtt": ["TaskRole", "Arn"]},
                    {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
                ]
                assert statement["Condition"] == {
                    "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
                }


def test_service_actions_are_scoped_to_the_service(resources: dict[str, Any]) -> None:
    for logical_id in FUNCTIONS:
        for _, statement in policy_statements(resources[logical_id], resources):
            if actions(statement) & {"ecs:UpdateService", "ecs:DescribeServices"}:
                assert statement["Resource"] == {"Ref": "Service"}
            if "ecs:TagResource" in actions(statement):
                assert statement["Condition"] == {
                    "StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}
                }


def test_only_the_checkers_read_the_api_token_and_only_when_it_is_set(resources: dict[str, Any]) -> None:
    readers = {"AwaitControlPlaneUpFunction", "AwaitLoadTestsFunction", "BakeControlPlaneFunction"}
    for logical_id in FUNCTIONS:
        for condition, statement in policy_statements(resources[logical_id], resources):
            if "secretsmanager:GetSecretValue" in actions(statement):
                assert logical_id in readers and condition == "HasGatlingApiToken", logical_id
                assert statement["Resource"] == {"Ref": "GatlingApiTokenSecretArn"}


def test_only_the_probe_runs_in_the_vpc_and_the_task_lets_it_in(resources: dict[str, Any]) -> None:
    # A VPC-attached Lambda has no public IP: without NAT or endpoints it reaches no AWS API.
    in_vpc = sorted(
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function" and "VpcConfig" in resource["Properties"]
    )
    assert in_vpc == ["ProbeInfoFunction"]
    assert props(resources, "ProbeInfoFunction")["VpcConfig"] == {
        "SubnetIds": {"Ref": "SubnetIds"},
        "SecurityGroupIds": [{"Fn::GetAtt": ["CheckerSecurityGroup", "GroupId"]}],
    }
    ingress = resources["TaskIngressFromChecker"]
    assert ingress["Condition"] == "CreateSecurityGroup"
    rule = ingress["Properties"]
    assert rule["GroupId"] == {"Fn::GetAtt": ["TaskSecurityGroup", "GroupId"]}
    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": ["CheckerSecurityGroup", "GroupId"]}
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (
        {"Ref": "ServerPort"},
        {"Ref": "ServerPort"},
        "tcp",
    )
    (egress,) = props(resources, "CheckerSecurityGroup")["SecurityGroupEgress"]
    assert (egress["FromPort"], egress["ToPort"]) == ({"Ref": "ServerPort"}, {"Ref": "ServerPort"})
    assert egress.get("Description")


def test_the_probe_has_no_permission_of_its_own(resources: dict[str, Any]) -> None:
    probe = props(resources, "ProbeInfoFunction")
    assert probe["Handler"] == "probe_info/app.lambda_handler"
    assert (REPO_ROOT / "functions" / "probe_info" / "app.py").is_file()
    assert "Policies" not in probe, "no AWS API call: only what SAM adds for logs, tracing and VpcConfig"
    assert float(probe["Environment"]["Variables"]["HTTP_TIMEOUT_SECONDS"]) < probe["Timeout"]


@pytest.mark.parametrize(
    "logical_id", ["AwaitControlPlaneUpFunction", "BakeControlPlaneFunction", "HealthCheckFunction"]
)
def test_the_checkers_may_invoke_exactly_the_probe(
    template: dict[str, Any], resources: dict[str, Any], logical_id: str
) -> None:
    invoking = [
        s
        for _, s in policy_statements(resources[logical_id], resources)
        if "lambda:InvokeFunction" in actions(s)
    ]
    assert [(actions(s), s["Resource"]) for s in invoking] == [
        ({"lambda:InvokeFunction"}, {"Fn::GetAtt": ["ProbeInfoFunction", "Arn"]})
    ]
    assert environment(template, logical_id)["PROBE_INFO_FUNCTION_ARN"] == {
        "Fn::GetAtt": ["ProbeInfoFunction", "Arn"]
    }
    assert "VpcConfig" not in props(resources, logical_id)


def test_the_records_table(resources: dict[str, Any]) -> None:
    table = props(resources, "RecordsTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def topic_publishers(resources: dict[str, Any]) -> list[str]:
    """Functions whose own policy allows sns:Publish on the notification topic."""
    return sorted(
        name
        for name, item in resources.items()
        if item["Type"] == "AWS::Serverless::Function"
        for _, statement in policy_statements(item, resources)
        if "sns:Publish" in actions(statement) and statement["Resource"] == {"Ref": "NotificationTopic"}
    )


def key_gaps(resources: dict[str, Any]) -> list[str]:
    """Publishers of the topic that could not publish through its KMS key: a publisher to an encrypted
    topic needs kms:GenerateDataKey* and kms:Decrypt on the key (SNS Developer Guide, "Key management",
    "Allow a user to send messages to a topic with SSE")."""
    key = props(resources, "NotificationTopic").get("KmsMasterKeyId")
    if key is None or (isinstance(key, str) and key.startswith("alias/aws/")):
        # An AWS managed key's policy is kept by the service that uses it, not granted in IAM (KMS
        # Developer Guide, "Permissions for AWS services in key policies"); the alarm is what it stops.
        return []
    key_arn = {"Fn::GetAtt": [key["Ref"], "Arn"]} if isinstance(key, dict) and "Ref" in key else key
    gaps = []
    for name in topic_publishers(resources):
        granted = set().union(
            *(
                actions(statement)
                for _, statement in policy_statements(resources[name], resources)
                if statement["Resource"] == key_arn
            )
        )
        needed = ("kms:GenerateDataKey", "kms:Decrypt")
        missing = [
            action
            for action in needed
            if not any(wildcard_match(g, action, case_sensitive=False) for g in granted)
        ]
        if missing:
            gaps.append(f"{name}: {', '.join(missing)} on the topic's key")
    return gaps


def test_the_topic_is_unencrypted_so_that_the_alarm_can_publish(resources: dict[str, Any]) -> None:
    # CloudWatch cannot use the AWS managed key alias/aws/sns; a customer managed key costs $1 a month.
    topic = resources["NotificationTopic"]
    assert "KmsMasterKeyId" not in topic["Properties"]
    [skip] = [item for item in topic["Metadata"]["checkov"]["skip"] if item["id"] == "CKV_AWS_26"]
    assert "alias/aws/sns" in skip["comment"] and "never a secret" in skip["comment"]


def test_every_publisher_of_the_topic_may_use_its_key(resources: dict[str, Any]) -> None:
    # The outcome, and the load test wait's start and end.
    assert topic_publishers(resources) == ["AwaitLoadTestsFunction", "RecordOutcomeFunction"]
    assert key_gaps(resources) == []


def test_an_encrypted_topic_needs_its_key_in_every_publishers_policy(resources: dict[str, Any]) -> None:
    encrypted = copy.deepcopy(resources)
    encrypted["TopicKey"] = {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True}}
    encrypted["NotificationTopic"]["Properties"]["KmsMasterKeyId"] = {"Ref": "TopicKey"}
    assert key_gaps(encrypted) == [
        "AwaitLoadTestsFunction: kms:GenerateDataKey, kms:Decrypt on the topic's key",
        "RecordOutcomeFunction: kms:GenerateDataKey, kms:Decrypt on the topic's key",
    ]

    for publisher in ("AwaitLoadTestsFunction", "RecordOutcomeFunction"):
        (inline,) = [p for p in encrypted[publisher]["Properties"]["Policies"] if "Statement" in p]
        statements = inline["Statement"]
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": {"Fn::GetAtt": ["TopicKey", "Arn"]},
            }
        )
    assert key_gaps(encrypted) == []


def test_notifications_are_mailed_only_when_asked(resources: dict[str, Any]) -> None:
    subscription = resources["NotificationEmailSubscription"]
    assert subscription["Condition"] == "HasNotificationEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "NotificationEmail"}


def test_the_state_machine_logs_traces_and_invokes_only_its_functions(resources: dict[str, Any]) -> None:
    machine = props(resources, "DeployStateMachine")
    assert machine["DefinitionUri"] == "statemachine/deploy_control_plane.asl.json"
    assert machine["Logging"]["Level"] == "ALL" and machine["Logging"]["Destinations"]
    assert machine["Tracing"] == {"Enabled": True}
    invoked = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for p in machine["Policies"]
        if "LambdaInvokePolicy" in p
    }
    assert invoked == set(FUNCTIONS)
    assert machine["Name"] == {"Fn::Sub": "${ControlPlaneName}-deploy"}


def test_the_lock_lease_outlives_any_execution(resources: dict[str, Any]) -> None:
    lease = int(props(resources, "AdmitDeploymentFunction")["Environment"]["Variables"]["LOCK_LEASE_SECONDS"])
    assert (
        lease >= props(resources, "DeployStateMachine")["DefinitionSubstitutions"]["WorkflowTimeoutSeconds"]
    )


def test_admission_may_read_only_this_state_machine_s_executions(resources: dict[str, Any]) -> None:
    (statement,) = [
        s
        for _, s in policy_statements(resources["AdmitDeploymentFunction"], resources)
        if "states:DescribeExecution" in actions(s)
    ]
    assert statement["Resource"]["Fn::Sub"].endswith(":execution:${ControlPlaneName}-deploy:*")


def test_statements_several_functions_share_are_managed_policies_said_once(resources: dict[str, Any]) -> None:
    managed = {name for name, item in resources.items() if item["Type"] == "AWS::IAM::ManagedPolicy"}
    functions = {
        name: item for name, item in resources.items() if item["Type"] == "AWS::Serverless::Function"
    }
    users = {
        name: sorted(f for f, item in functions.items() if {"Ref": name} in str_refs(item))
        for name in managed
    }
    assert all(len(found) >= 2 for found in users.values()), (
        f"a managed policy used once belongs inline: {users}"
    )
    shared = {
        json.dumps(statement, sort_keys=True)
        for name in managed
        for statement in resources[name]["Properties"]["PolicyDocument"]["Statement"]
    }
    inline: dict[str, list[str]] = {}
    for name, item in functions.items():
        for policy in item["Properties"].get("Policies", []):
            body = policy["Fn::If"][1] if "Fn::If" in policy else policy
            for statement in body.get("Statement", []):
                inline.setdefault(json.dumps(statement, sort_keys=True), []).append(name)
    assert not shared & set(inline), f"repeated inline: {sorted(shared & set(inline))}"
    repeated = {statement: names for statement, names in inline.items() if len(names) > 1}
    assert repeated == {}, f"statements repeated across functions: {repeated}"


def str_refs(function: dict[str, Any]) -> list[Any]:
    """The managed policies a function's Policies reference (directly or under Fn::If)."""
    found = []
    for policy in function["Properties"].get("Policies", []):
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        if set(policy) == {"Ref"}:
            found.append(policy)
    return found


def test_no_role_is_over_iam_s_default_quota_of_managed_policies() -> None:
    # "Managed policies attached to an IAM role": 10 by default (IAM User Guide, "IAM and AWS STS quotas").
    roles = {
        name: item["Properties"].get("ManagedPolicyArns", [])
        for name, item in translated().items()
        if item["Type"] == "AWS::IAM::Role"
    }
    assert max(len(arns) for arns in roles.values()) <= 10, {name: len(arns) for name, arns in roles.items()}
