"""Scenario 15: EventBridge may start the workflow only as its rule's target role allows.

EventBridge starts a Step Functions target under the target's `RoleArn`; when that role may not
call `states:StartExecution`, the event is not delivered and goes to the target's dead-letter queue
(EventBridge User Guide, "Using dead-letter queues to process undelivered events"). So an upload
never silently vanishes: the dead-letter queue holds it.
"""

from __future__ import annotations

import json

from cpctl.twin.twin import LocalTwin

from .conftest import changed_config


def test_an_upload_the_rule_may_not_deliver_lands_in_the_dead_letter_queue(twin: LocalTwin) -> None:
    events = twin.client("events")
    (rule,) = [
        item for item in events.list_rules()["Rules"] if '"aws.s3"' in str(item.get("EventPattern", ""))
    ]
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    role = target["RoleArn"].rsplit("/", 1)[-1]
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "states:StartExecution", "Resource": "*"}],
    }
    twin.client("iam").put_role_policy(
        RoleName=role, PolicyName="deny-start", PolicyDocument=json.dumps(deny)
    )
    executions = len(twin.executions())

    version = twin.upload_config(changed_config())

    assert len(twin.executions()) == executions, "the denied rule started an execution"
    assert twin.eventbridge is not None
    refused = [check for check in twin.eventbridge.target_checks if check.decision.value != "allow"]
    assert [(check.check[0], check.under) for check in refused] == [
        ("states:StartExecution", target["RoleArn"])
    ]
    queue_arn = target["DeadLetterConfig"]["Arn"]
    sqs = twin.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["object"]["version-id"] for m in messages] == [version]
    twin.eventbridge.target_checks.clear()  # the refusal was the point: the fixture checks the rest
