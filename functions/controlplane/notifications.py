"""Notifications of a deployment's outcome on the stack's SNS topic: outcome, version, revision, reason.

Messages carry only what the workflow state carries, which never holds a secret; log lines in it
were redacted where they were read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controlplane.models import Outcome

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

    from controlplane.records import DeploymentRecord

TITLES: dict[Outcome, str] = {
    "succeeded": "deployed",
    "rejected": "rejected invalid config",
    "failed": "deployment failed",
    "rolled_back": "deployment failed, rolled back",
    "rollback_failed": "ROLLBACK FAILED, manual action needed",
    "unchanged": "same content as the running config, not restarted",
}
MAX_MESSAGE_BYTES = 200_000


def subject(service: str, outcome: Outcome, version_id: str | None) -> str:
    """An SNS subject: ASCII, under 100 characters."""
    version = f" version {version_id[:16]}" if version_id else ""
    text = f"[{service}] {TITLES[outcome]}{version}"
    return text.encode("ascii", errors="replace").decode("ascii")[:99]


def message(record: DeploymentRecord) -> str:
    """The notification text of a deployment record."""
    lines = [
        f"Outcome: {TITLES[record.outcome]} ({record.outcome})",
        f"Service: {record.cluster}/{record.service}",
        f"Config: s3://{record.bucket}/{record.key} version {record.version_id or 'unknown'}",
    ]
    if record.sha256:
        lines.append(f"Config sha256: {record.sha256}")
    if record.task_definition_arn:
        lines.append(f"Revision: {record.task_definition_arn}")
    lines.append(f"Source: {record.source}" + (f" ({record.reason})" if record.reason else ""))
    lines.append(f"Execution: {record.execution_arn}")
    lines.append("")
    lines.append(record.cause)
    findings = record.validation_errors or []
    if any(finding not in record.cause for finding in findings):
        # The cause was cut to fit the Fail state: the notification still lists every error.
        lines.append("")
        lines.append("All errors:")
        lines.extend(f"  {finding}" for finding in findings)
    warnings = record.validation_warnings or []
    if record.outcome != "succeeded" and any(warning not in record.cause for warning in warnings):
        lines.append("")
        lines.append("Validator warnings:")
        lines.extend(f"  {warning}" for warning in warnings)
    phases = record.phase_seconds
    if phases:
        lines.append("")
        lines.append(
            "Time spent: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items())
        )
    text = "\n".join(lines)
    return text.encode()[:MAX_MESSAGE_BYTES].decode(errors="ignore")


def notify(record: DeploymentRecord, *, sns: SNSClient, topic_arn: str) -> None:
    sns.publish(
        TopicArn=topic_arn,
        Subject=subject(record.service, record.outcome, record.version_id),
        Message=message(record),
        MessageAttributes={"outcome": {"DataType": "String", "StringValue": record.outcome}},
    )
