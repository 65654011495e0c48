"""The health checks in template.yaml: parameters, the two functions and their least-privilege roles,
the schedule, the stopped-task rule and the alarm. Each test fails if what it names is removed."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import msgspec
from controlplane.settings import Settings
from controlplane.telemetry import METRICS_NAMESPACE, SERVICE

from tests.conftest import TEMPLATE_PATH
from tests.template.policies import actions, policy_statements


def props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(resources[logical_id]["Properties"])


@cache
def translated() -> dict[str, Any]:
    """template.yaml as CloudFormation, the way SAM deploys it (aws-sam-translator, offline)."""
    from cpctl.twin.provision import translate

    return dict(translate(TEMPLATE_PATH, region="eu-west-1").template["Resources"])


# ---------------------------------------------------------------- parameters


def test_health_checks_can_be_disabled(template: dict[str, Any]) -> None:
    assert template["Parameters"]["HealthCheckEnabled"]["AllowedValues"] == ["true", "false"]
    assert template["Conditions"]["HealthCheckOn"] == {"Fn::Equals": [{"Ref": "HealthCheckEnabled"}, "true"]}


# ---------------------------------------------------------------- the health check function


def test_the_health_check_runs_on_the_schedule_and_the_parameter_can_stop_it(
    resources: dict[str, Any],
) -> None:
    schedule = props(resources, "HealthCheckFunction")["Events"]["Schedule"]
    assert schedule["Type"] == "Schedule"
    assert schedule["Properties"]["Schedule"] == {"Ref": "HealthCheckRate"}
    assert schedule["Properties"]["State"] == {"Fn::If": ["HealthCheckOn", "ENABLED", "DISABLED"]}
    rule = translated()["HealthCheckFunctionSchedule"]
    assert rule["Type"] == "AWS::Events::Rule"
    assert rule["Properties"]["ScheduleExpression"] == {"Ref": "HealthCheckRate"}
    assert rule["Properties"]["State"] == {"Fn::If": ["HealthCheckOn", "ENABLED", "DISABLED"]}
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["HealthCheckFunction", "Arn"]}


def test_the_health_check_runs_outside_the_vpc_and_probes_through_the_probe_function(
    resources: dict[str, Any],
) -> None:
    function = props(resources, "HealthCheckFunction")
    assert function["Handler"] == "check_health/app.lambda_handler"
    assert (TEMPLATE_PATH.parent / "functions" / "check_health" / "app.py").is_file()
    assert "VpcConfig" not in function, "in the VPC it would reach no AWS API without NAT or endpoints"
    assert function["Environment"]["Variables"]["PROBE_INFO_FUNCTION_ARN"] == {
        "Fn::GetAtt": ["ProbeInfoFunction", "Arn"]
    }
    role = translated()["HealthCheckFunctionRole"]["Properties"]
    assert not any("AWSLambdaVPCAccessExecutionRole" in str(arn) for arn in role["ManagedPolicyArns"])
    probe_role = translated()["ProbeInfoFunctionRole"]["Properties"]
    assert any("AWSLambdaVPCAccessExecutionRole" in str(arn) for arn in probe_role["ManagedPolicyArns"])


def test_every_variable_of_the_health_functions_is_a_setting(resources: dict[str, Any]) -> None:
    aliases = {field.encode_name for field in msgspec.structs.fields(Settings)}
    for logical_id in ("HealthCheckFunction", "RecordStoppedTaskFunction"):
        variables = props(resources, logical_id).get("Environment", {}).get("Variables", {})
        assert set(variables) <= aliases, f"{logical_id}: {set(variables) - aliases}"
    variables = props(resources, "HealthCheckFunction")["Environment"]["Variables"]
    assert variables["STATE_MACHINE_ARN"] == {"Ref": "DeployStateMachine"}
    assert variables["SELF_HEAL_AFTER_FAILURES"] == {"Ref": "SelfHealAfterFailures"}
    assert variables["SELF_HEAL_MIN_INTERVAL_MINUTES"] == {"Ref": "SelfHealMinIntervalMinutes"}
    assert variables["DEPLOYMENT_DEADLINE_MINUTES"] == {"Ref": "DeploymentDeadlineMinutes"}
    assert variables["GATLING_API_TOKEN_SECRET_ARN"] == {"Ref": "GatlingApiTokenSecretArn"}


def test_the_state_machine_does_not_reference_the_health_check(resources: dict[str, Any]) -> None:
    # The health check gets the state machine's ARN; the reverse would be a circular dependency.
    assert "HealthCheckFunction" not in str(resources["DeployStateMachine"])


def test_the_health_check_may_start_only_the_deployment_workflow(resources: dict[str, Any]) -> None:
    statements = policy_statements(resources["HealthCheckFunction"], resources)
    starting = [s for _, s in statements if any(a.startswith("states:") for a in actions(s))]
    by_action = {action: s["Resource"] for s in starting for action in actions(s)}
    assert by_action == {
        "states:StartExecution": {"Ref": "DeployStateMachine"},
        "states:DescribeExecution": {
            "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${ControlPlaneName}-deploy:*"
        },
    }


def test_the_health_check_role_is_least_privilege(resources: dict[str, Any]) -> None:
    statements = policy_statements(resources["HealthCheckFunction"], resources)
    granted = {action: (condition, s) for condition, s in statements for action in actions(s)}
    # Which actions: each one its calls need, as the twin's recorded calls prove (tests/e2e/test_13).
    assert granted["lambda:InvokeFunction"][1]["Resource"] == {"Fn::GetAtt": ["ProbeInfoFunction", "Arn"]}
    assert all(s["Effect"] == "Allow" and "*" not in str(s["Action"]) for _, s in statements)
    assert granted["ecs:DescribeServices"][1]["Resource"] == {"Ref": "Service"}
    assert granted["ecs:ListTasks"][1]["Condition"] == {
        "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["Cluster", "Arn"]}}
    }
    assert granted["dynamodb:UpdateItem"][1]["Resource"] == {"Fn::GetAtt": ["RecordsTable", "Arn"]}
    assert granted["s3:GetObject"][1]["Resource"] == {"Fn::Sub": "${ConfigBucket.Arn}/${ConfigObjectKey}"}
    condition, secret = granted["secretsmanager:GetSecretValue"]
    assert condition == "HasGatlingApiToken" and secret["Resource"] == {"Ref": "GatlingApiTokenSecretArn"}
    condition, decrypt = granted["kms:Decrypt"]
    assert condition == "HasGatlingApiTokenUnderSecretsKmsKey" and decrypt["Resource"] == {
        "Ref": "SecretsKmsKeyArn"
    }
    assert decrypt["Condition"]["StringEquals"]["kms:EncryptionContext:SecretARN"] == {
        "Ref": "GatlingApiTokenSecretArn"
    }, "only this secret's decryption, only through Secrets Manager"


# ---------------------------------------------------------------- stopped tasks


def test_stopped_tasks_of_this_service_reach_the_recorder(resources: dict[str, Any]) -> None:
    function = props(resources, "RecordStoppedTaskFunction")
    assert function["Handler"] == "record_stopped_task/app.lambda_handler"
    event = function["Events"]["TaskStopped"]
    assert event["Type"] == "EventBridgeRule"
    assert event["Properties"]["Pattern"] == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "lastStatus": ["STOPPED"],
            "clusterArn": [{"Fn::GetAtt": ["Cluster", "Arn"]}],
            "group": [{"Fn::Sub": "service:${Service.Name}"}],
        },
    }


def test_the_recorder_may_only_put_items_in_the_records_table(resources: dict[str, Any]) -> None:
    statements = policy_statements(resources["RecordStoppedTaskFunction"], resources)
    assert [(actions(s), s["Resource"]) for _, s in statements] == [
        ({"dynamodb:PutItem"}, {"Fn::GetAtt": ["RecordsTable", "Arn"]})
    ]


# ---------------------------------------------------------------- the alarm


def test_the_alarm_watches_the_healthy_metric_exactly_as_powertools_emits_it(
    resources: dict[str, Any],
) -> None:
    alarm = props(resources, "HealthAlarm")
    assert resources["HealthAlarm"]["Condition"] == "HealthCheckOn"
    assert alarm["Namespace"] == METRICS_NAMESPACE
    assert alarm["MetricName"] == "Healthy"
    assert alarm["Dimensions"] == [
        {"Name": "service", "Value": SERVICE},
        {"Name": "control_plane", "Value": {"Fn::GetAtt": ["Service", "Name"]}},
    ]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Minimum",
        1,
        "LessThanThreshold",
    )


def test_one_transient_failure_cannot_page(resources: dict[str, Any]) -> None:
    alarm = props(resources, "HealthAlarm")
    assert alarm["EvaluationPeriods"] == {"Ref": "HealthAlarmPeriods"}
    assert alarm["DatapointsToAlarm"] == {"Ref": "HealthAlarmPeriods"}
    assert alarm["Period"] == 300
    assert alarm["TreatMissingData"] == "missing"


def test_the_alarm_notifies_the_workflow_topic(resources: dict[str, Any]) -> None:
    alarm = props(resources, "HealthAlarm")
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        assert alarm[key] == [{"Ref": "NotificationTopic"}]


def test_every_schedule_rate_gives_each_alarm_period_a_data_point(template: dict[str, Any]) -> None:
    from cpctl.twin.health_scenario import rate_seconds

    period = props(template["Resources"], "HealthAlarm")["Period"]
    for rate in template["Parameters"]["HealthCheckRate"]["AllowedValues"]:
        assert rate_seconds(rate) <= period


def test_the_outputs_name_the_health_function_and_alarm(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["HealthCheckFunctionName"]["Value"] == {"Ref": "HealthCheckFunction"}
    assert outputs["HealthAlarmName"]["Value"] == {"Ref": "HealthAlarm"}


# ---------------------------------------------------------------- dashboard
def dashboard_widgets(resources: dict[str, Any], *, health_check_on: bool) -> list[dict[str, Any]]:
    """The dashboard's widgets as CloudFormation renders its body, with the health check on or off
    (every ${...} stands in as its own name)."""

    def render(part: Any) -> str:
        if isinstance(part, str):
            return part
        if "Fn::If" in part:
            condition, when_true, when_false = part["Fn::If"]
            assert condition == "HealthCheckOn"
            return render(when_true if health_check_on else when_false)
        text = part["Fn::Sub"] if isinstance(part["Fn::Sub"], str) else part["Fn::Sub"][0]
        return re.sub(r"\$\{([^}]+)\}", lambda m: m.group(1), text)

    dashboard = resources["Dashboard"]
    assert "Condition" not in dashboard, "the dashboard exists with the health check on and off"
    delimiter, parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"]
    return list(json.loads(delimiter.join(render(part) for part in parts))["widgets"])


def test_with_the_health_check_off_the_dashboard_keeps_the_deployments_and_says_why_the_rest_is_gone(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    on = [w["properties"].get("title") for w in dashboard_widgets(resources, health_check_on=True)]
    assert on == [
        "Deployments by outcome (per hour)",
        "Time per phase (seconds, average)",
        "Health (1 healthy, 0 unhealthy)",
        "Running tasks (per health check)",
        "Self-heals",
        "Alarm state",
    ]
    off = dashboard_widgets(resources, health_check_on=False)
    assert [w["properties"].get("title") for w in off[:2]] == on[:2]
    (note,) = off[2:]
    assert note["type"] == "text" and "HealthCheckEnabled=false" in note["properties"]["markdown"]
    assert "HealthAlarm" not in json.dumps(off), "no reference to the alarm, which does not exist then"
    assert "Condition" not in template["Outputs"]["DashboardUrl"]
