"""Whether CloudWatch may run an alarm's SNS action, decided as AWS decides it.

moto publishes whatever it is asked to, so without this the twin's alarm would notify through a topic
that AWS refuses it. On AWS, CloudWatch publishes an alarm action as the service principal
`cloudwatch.amazonaws.com`, on behalf of the alarm (`aws:SourceArn` is the alarm's ARN,
`aws:SourceAccount` and `aws:SourceOwner` its account), and two policies must agree:

1. The topic's access policy must allow `sns:Publish`. The default policy SNS gives every new topic
   allows any principal whose request comes from a resource the topic's owner owns (`AWS:SourceOwner`),
   which is how a CloudWatch alarm of the same account may publish (SNS Developer Guide, "Example
   cases for Amazon SNS access control": the default policy "grants access to your topic to all other
   AWS services ... only on behalf of AWS resources you own"; `aws:SourceAccount` versus
   `aws:SourceOwner`).
2. When the topic is encrypted (`KmsMasterKeyId`), the key's policy must let the service use the key:
   `kms:GenerateDataKey*` and `kms:Decrypt` (SNS Developer Guide, "Key management", "Enable
   compatibility between event sources from AWS services and encrypted topics": step 1 is "Use a
   customer managed KMS key"). The AWS managed key `alias/aws/sns` never allows it: its key policy is
   AWS's and cannot be edited (AWS re:Post Knowledge Center, "How do I configure a CloudWatch alarm
   with an encrypted Amazon SNS topic?").

A denied action is not delivered. CloudWatch records it in the alarm's history as `Failed to execute
action <topic ARN>. Received error: "<error>"`, with the errors the Knowledge Center quotes: "Resource:
<alarm ARN> is not authorized to perform: SNS:Publish on resource: <topic ARN>" for the topic policy,
"CloudWatch Alarms does not have authorization to access the SNS topic encryption key." for the key.
The twin adds which policy or key said no.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cpctl.twin.iam_eval import Decision, Request, decide

CLOUDWATCH = "cloudwatch.amazonaws.com"
KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
KEY_ERROR = "CloudWatch Alarms does not have authorization to access the SNS topic encryption key."


@dataclass(frozen=True)
class ActionDenied:
    """An alarm action AWS would not run: CloudWatch's error, and the policy or key that caused it."""

    topic_arn: str
    error: str
    cause: str

    @property
    def history(self) -> str:
        """The alarm history's line for it, with the twin's explanation."""
        return f'Failed to execute action {self.topic_arn}. Received error: "{self.error}" ({self.cause})'


@dataclass(frozen=True)
class AlarmActionPolicy:
    """Decides CloudWatch's `sns:Publish` of one alarm's action on the twin's SNS and KMS."""

    sns: Any
    kms: Any
    account_id: str

    def denial(self, topic_arn: str, alarm_arn: str) -> ActionDenied | None:
        """Why CloudWatch may not publish `alarm_arn`'s notification to `topic_arn`; None if it may."""
        context = {
            "aws:SourceArn": alarm_arn,
            "aws:SourceAccount": self.account_id,
            "aws:SourceOwner": self.account_id,
        }
        try:
            attributes = self.sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        except self.sns.exceptions.NotFoundException:
            return ActionDenied(topic_arn, "Topic does not exist", f"no topic {topic_arn}")
        publish = Request("sns:Publish", topic_arn, service_principal=CLOUDWATCH, context=context)
        if decide([], publish, resource_policy=attributes.get("Policy")) is not Decision.ALLOW:
            return ActionDenied(
                topic_arn,
                f"Resource: {alarm_arn} is not authorized to perform: SNS:Publish on resource: {topic_arn}",
                f"the topic's access policy does not allow {CLOUDWATCH} sns:Publish for this alarm",
            )
        key_id = attributes.get("KmsMasterKeyId")
        return self._key_denial(topic_arn, str(key_id), context) if key_id else None

    def _key_denial(self, topic_arn: str, key_id: str, context: dict[str, str]) -> ActionDenied | None:
        if _names_aws_managed_key(key_id):
            return ActionDenied(
                topic_arn,
                KEY_ERROR,
                f"the topic is encrypted with the AWS managed key {key_id}, whose key policy cannot "
                f"grant {CLOUDWATCH} kms:GenerateDataKey* and kms:Decrypt: use a customer managed key "
                "or no topic encryption",
            )
        try:
            metadata = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]
        except self.kms.exceptions.NotFoundException:
            return ActionDenied(topic_arn, KEY_ERROR, f"the topic's KMS key {key_id} does not exist")
        key_arn = str(metadata["Arn"])
        if metadata.get("KeyManager") == "AWS":
            return ActionDenied(
                topic_arn,
                KEY_ERROR,
                f"the topic's KMS key {key_arn} is an AWS managed key: use a customer managed key",
            )
        if metadata.get("KeyState") != "Enabled":
            return ActionDenied(
                topic_arn, KEY_ERROR, f"the topic's KMS key {key_arn} is {metadata.get('KeyState')}"
            )
        policy = self.kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
        for action in KEY_ACTIONS:
            use = Request(action, key_arn, service_principal=CLOUDWATCH, context=context)
            if decide([], use, resource_policy=policy) is not Decision.ALLOW:
                return ActionDenied(
                    topic_arn,
                    KEY_ERROR,
                    f"the key policy of {key_arn} does not allow {CLOUDWATCH} {action} for "
                    f"aws:SourceArn {context['aws:SourceArn']}",
                )
        return None


def _names_aws_managed_key(key_id: str) -> bool:
    # AWS managed keys are named by the reserved aliases alias/aws/<service> (KMS Developer Guide, "AWS
    # managed keys"); as an alias ARN too. moto lists such aliases but has no key behind them.
    alias = key_id.split(":", 5)[-1] if key_id.startswith("arn:") else key_id
    return alias.startswith("alias/aws/")
