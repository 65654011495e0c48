"""The twin's stack as CloudFormation describes it: DescribeStacks (and ListStacks) of the one stack.

The twin provisions template.yaml itself (provision.py), so moto's CloudFormation backend knows no
stack of its own. `ServedStack` puts one there, answered by moto's DescribeStacks (in-process and on
the served endpoint alike) with the members of the `Stack` data type (CloudFormation API Reference):
`StackId` (`arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>`), `StackName`,
`Description` (the template's), `Parameters` (a `NoEcho` parameter's value as `*****`, as the User
Guide's `Parameters` page writes it), `CreationTime`, `LastUpdatedTime` (only once the stack has
been updated at least once), `StackStatus`
(`CREATE_COMPLETE` once CloudFormation's wait on the services ended, `UPDATE_COMPLETE` after an
update, `UPDATE_FAILED` with `StackStatusReason` when it failed) and `Outputs` (those whose
`Condition` holds, values as strings). Times are the simulated clock's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cpctl.twin.provision import Stack


@dataclass
class ServedStack:
    """What moto's CloudFormation responses read of a stack (its serializer picks the members of
    the `Stack` shape by their snake_case names; its backend looks stacks up by `name`, `stack_id`
    and filters ListStacks by `status`)."""

    stack_id: str
    name: str
    description: str | None
    creation_time: datetime
    status: str = "CREATE_IN_PROGRESS"
    stack_status_reason: str | None = None
    last_updated_time: datetime | None = None
    parameters: list[dict[str, str]] = field(default_factory=list)
    outputs: list[dict[str, str]] | None = None
    tags: dict[str, str] = field(default_factory=dict)  # moto turns it into the Key/Value list
    deletion_time: None = None

    @property
    def stack_name(self) -> str:
        return self.name

    @property
    def stack_status(self) -> str:
        return self.status

    def describe(self, stack: Stack, template: dict[str, Any]) -> None:
        """Parameters and outputs as `stack` (the provisioned one) has them now."""
        declared = template.get("Parameters", {})
        self.parameters = [
            {
                "ParameterKey": name,
                "ParameterValue": "*****"
                if str(declared.get(name, {}).get("NoEcho", "")).lower() == "true"
                # a list parameter (List<...>, CommaDelimitedList) is answered as its comma-joined string
                else (",".join(map(str, value)) if isinstance(value, list) else str(value)),
            }
            for name, value in stack.parameters.items()
        ]
        self.outputs = [
            {
                "OutputKey": key,
                "OutputValue": ",".join(map(str, value)) if isinstance(value, list) else str(value),
                **(
                    {"Description": str(template["Outputs"][key]["Description"])}
                    if template.get("Outputs", {}).get(key, {}).get("Description")
                    else {}
                ),
            }
            for key, value in stack.outputs.items()
        ] or None


def register(
    stack: Stack, template: dict[str, Any], *, account_id: str, region: str, now: float
) -> ServedStack:
    """Put `stack` into moto's CloudFormation backend as CREATE_IN_PROGRESS; the record to update."""
    from moto.cloudformation.models import cloudformation_backends

    served = ServedStack(
        stack_id=f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack.name}/{uuid.uuid4()}",
        name=stack.name,
        description=template.get("Description"),
        creation_time=datetime.fromtimestamp(now, UTC),
    )
    served.describe(stack, template)
    cloudformation_backends[account_id][region].stacks[served.stack_id] = served  # type: ignore[assignment]
    return served
