"""The twin's DescribeStacks answer for its stack (cpctl/twin/cloudformation.py), without a twin."""

from __future__ import annotations

from datetime import UTC, datetime

from cpctl.twin.cloudformation import ServedStack
from cpctl.twin.provision import Stack

TEMPLATE = {
    "Description": "a stack",
    "Parameters": {"Name": {"Type": "String"}, "Password": {"Type": "String", "NoEcho": True}},
    "Outputs": {"Url": {"Value": "x", "Description": "where it is"}, "Ids": {"Value": "y"}},
}


def test_parameters_are_answered_as_strings_with_noecho_masked_and_outputs_with_descriptions() -> None:
    stack = Stack(
        name="s",
        account_id="123456789012",
        region="eu-west-1",
        parameters={"Name": "cp", "Password": "hunter2", "Subnets": ["a", "b"]},
        resources={},
        outputs={"Url": "https://example.test", "Ids": ["i-1", "i-2"]},
        functions={},
        state_machines={},
        skipped=[],
    )
    served = ServedStack(stack_id="arn", name="s", description="a stack", creation_time=datetime.now(UTC))
    served.describe(stack, TEMPLATE)
    assert served.parameters == [
        {"ParameterKey": "Name", "ParameterValue": "cp"},
        {"ParameterKey": "Password", "ParameterValue": "*****"},
        {"ParameterKey": "Subnets", "ParameterValue": "a,b"},
    ]
    assert served.outputs == [
        {"OutputKey": "Url", "OutputValue": "https://example.test", "Description": "where it is"},
        {"OutputKey": "Ids", "OutputValue": "i-1,i-2"},
    ]
    assert served.last_updated_time is None  # only once the stack has been updated
