"""IAM on every AWS call a Lambda of the stack makes in the twin, decided under that function's role.

moto enforces no policy in-process. `CallAuthorizer` is a botocore `before-parameter-build` hook: for
a call made while a function's handler runs, it names the IAM actions, resource ARNs and condition
keys of the request (one table, `_REQUESTS`, from the Service Authorization Reference of each
service; a secret's customer managed KMS key too), decides each with the role's policies (`iam_eval.decide`, inline and managed, explicit
Deny first), records the call, and raises the AccessDenied error AWS would answer. An operation the
table does not know fails loudly: the twin never lets an unchecked call through.

Covered: what the stack's functions call, what Step Functions calls under the state machine's role
(the Lambda invocations of its Task states), and EventBridge's deliveries to its targets under the
target's role or the target's resource policy (`target_check`). Not covered (documented in docs/local-twin.md): service
control policies, session policies, the KMS key policy of an encrypted SNS topic for a publishing
function, and resource policies other than the bucket policy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from cpctl.twin.iam_eval import Decision, Request, decide

# One request's authorization: (action, resource ARN, condition keys).
Check = tuple[str, str, dict[str, str]]
Params = Mapping[str, Any]


@dataclass(frozen=True)
class Where:
    partition: str
    region: str
    account: str

    def arn(self, service: str, rest: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        account = self.account if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{account}:{rest}"


@dataclass(frozen=True)
class CallRecord:
    """One AWS call of one function: what IAM was asked and what it answered."""

    function: str  # logical id
    role_arn: str
    operation: str  # "ecs:DescribeServices"
    checks: tuple[Check, ...]
    decision: Decision


class UnknownOperation(RuntimeError):
    """A function called an operation the twin cannot authorize (add it to `_REQUESTS`)."""


# ---------------------------------------------------------------------------------- the table
def _name_of(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def _cluster(params: Params, where: Where) -> str:
    cluster = str(params.get("cluster") or "default")
    return cluster if cluster.startswith("arn:") else where.arn("ecs", f"cluster/{cluster}")


def _ecs_service(params: Params, where: Where, service: str) -> str:
    if service.startswith("arn:"):
        return service
    return where.arn("ecs", f"service/{_name_of(_cluster(params, where))}/{service}")


def _ecs_task(params: Params, where: Where, task: str) -> str:
    return (
        task
        if task.startswith("arn:")
        else where.arn("ecs", f"task/{_name_of(_cluster(params, where))}/{task}")
    )


def _service_deployment(arn: str, where: Where) -> list[Check]:
    _, cluster, service, _ = [*arn.split(":", 5)[-1].split("/"), "", "", ""][:4]
    cluster_arn = where.arn("ecs", f"cluster/{cluster}")
    service_arn = where.arn("ecs", f"service/{cluster}/{service}")
    return [
        ("ecs:DescribeServiceDeployments", service_arn, {"ecs:cluster": cluster_arn}),
        ("ecs:DescribeServiceDeployments", arn, {"ecs:cluster": cluster_arn, "ecs:service": service_arn}),
    ]


def _s3_object(params: Params, where: Where) -> Check:
    resource = f"arn:{where.partition}:s3:::{params['Bucket']}/{params['Key']}"
    if params.get("VersionId"):
        return ("s3:GetObjectVersion", resource, {"s3:VersionId": str(params["VersionId"])})
    return ("s3:GetObject", resource, {})


def _register_task_definition(params: Params, where: Where) -> list[Check]:
    # Service Authorization Reference for ECS: RegisterTaskDefinition on task-definition; tags on
    # create need ecs:TagResource with ecs:CreateAction; the roles need iam:PassRole.
    revision = where.arn("ecs", f"task-definition/{params['family']}:0")
    checks: list[Check] = [("ecs:RegisterTaskDefinition", revision, {})]
    if params.get("tags"):
        checks.append(("ecs:TagResource", revision, {"ecs:CreateAction": "RegisterTaskDefinition"}))
    for role in (params.get("taskRoleArn"), params.get("executionRoleArn")):
        if role:
            checks.append(("iam:PassRole", str(role), {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
    return checks


def secret_checks(secret_id: str, where: Where) -> list[Check]:
    """GetSecretValue of a secret, and `kms:Decrypt` of its key when that is a customer managed key:
    Secrets Manager decrypts the value with the caller's permissions, under the encryption context
    `SecretARN`, calling KMS on the caller's behalf (Secrets Manager User Guide, "Secret encryption
    and decryption in AWS Secrets Manager", "Permissions for the KMS key"; the AWS managed policy
    AWSSecretsManagerClientReadOnlyAccess conditions the same grant on `kms:ViaService` and
    `kms:EncryptionContext:SecretARN`). The AWS managed key `aws/secretsmanager` needs no grant."""
    from moto.secretsmanager.exceptions import SecretsManagerClientError
    from moto.secretsmanager.models import SecretsManagerBackend, secretsmanager_backends

    try:
        secret = secretsmanager_backends[where.account][where.region].describe_secret(secret_id)
    except SecretsManagerClientError:
        # Unknown to Secrets Manager: IAM is asked about the ARN as given, and the call then fails.
        return [("secretsmanager:GetSecretValue", secret_id, {})]
    checks: list[Check] = [("secretsmanager:GetSecretValue", str(secret.arn), {})]
    key = getattr(secret, "kms_key_id", None)  # a replica secret carries its own Region's key
    if key and key != SecretsManagerBackend.DEFAULT_KMS_KEY_ALIAS:
        key_arn = key if key.startswith("arn:") else where.arn("kms", f"key/{key}")
        checks.append(
            (
                "kms:Decrypt",
                key_arn,
                {
                    "kms:ViaService": f"secretsmanager.{where.region}.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": str(secret.arn),
                },
            )
        )
    return checks


def _dynamodb(action: str) -> Callable[[Params, Where], list[Check]]:
    return lambda params, where: [(action, where.arn("dynamodb", f"table/{params['TableName']}"), {})]


def _everything(action: str) -> Callable[[Params, Where], list[Check]]:
    """An action without resource-level permissions: IAM asks about "*"."""
    return lambda params, where: [(action, "*", {})]


_REQUESTS: dict[str, Callable[[Params, Where], list[Check]]] = {
    # DynamoDB: the table (Service Authorization Reference for DynamoDB).
    "dynamodb:GetItem": _dynamodb("dynamodb:GetItem"),
    "dynamodb:PutItem": _dynamodb("dynamodb:PutItem"),
    "dynamodb:UpdateItem": _dynamodb("dynamodb:UpdateItem"),
    "dynamodb:DeleteItem": _dynamodb("dynamodb:DeleteItem"),
    "dynamodb:Query": _dynamodb("dynamodb:Query"),
    # S3: HeadObject and GetObject are authorized as s3:GetObject, or s3:GetObjectVersion with a
    # version id; ListObjectVersions as s3:ListBucketVersions on the bucket (S3 API reference).
    "s3:GetObject": lambda params, where: [_s3_object(params, where)],
    "s3:HeadObject": lambda params, where: [_s3_object(params, where)],
    # PutObjectTagging of a version is s3:PutObjectVersionTagging (Service Authorization Reference, S3).
    "s3:PutObjectTagging": lambda params, where: [
        (
            "s3:PutObjectVersionTagging" if params.get("VersionId") else "s3:PutObjectTagging",
            f"arn:{where.partition}:s3:::{params['Bucket']}/{params['Key']}",
            {"s3:VersionId": str(params["VersionId"])} if params.get("VersionId") else {},
        )
    ],
    "s3:ListObjectVersions": lambda params, where: [
        (
            "s3:ListBucketVersions",
            f"arn:{where.partition}:s3:::{params['Bucket']}",
            {"s3:prefix": str(params["Prefix"])} if params.get("Prefix") is not None else {},
        )
    ],
    # Step Functions.
    "states:StartExecution": lambda params, where: [
        ("states:StartExecution", str(params["stateMachineArn"]), {})
    ],
    "states:DescribeExecution": lambda params, where: [
        ("states:DescribeExecution", str(params["executionArn"]), {})
    ],
    # ECS (Service Authorization Reference for ECS: resource types and the ecs:cluster key).
    "ecs:DescribeServices": lambda params, where: [
        (
            "ecs:DescribeServices",
            _ecs_service(params, where, str(s)),
            {"ecs:cluster": _cluster(params, where)},
        )
        for s in params.get("services", [])
    ],
    "ecs:UpdateService": lambda params, where: [
        (
            "ecs:UpdateService",
            _ecs_service(params, where, str(params["service"])),
            {"ecs:cluster": _cluster(params, where)},
        )
    ],
    # ListServiceDeployments on the service; DescribeServiceDeployments on the service and on each
    # service-deployment (arn:...:service-deployment/CLUSTER/SERVICE/ID, with ecs:cluster and ecs:service).
    "ecs:ListServiceDeployments": lambda params, where: [
        (
            "ecs:ListServiceDeployments",
            _ecs_service(params, where, str(params["service"])),
            {"ecs:cluster": _cluster(params, where)},
        )
    ],
    "ecs:DescribeServiceDeployments": lambda params, where: [
        check
        for arn in params.get("serviceDeploymentArns", [])
        for check in _service_deployment(str(arn), where)
    ],
    "ecs:ListTasks": lambda params, where: [
        (
            "ecs:ListTasks",
            where.arn("ecs", f"container-instance/{_name_of(_cluster(params, where))}/*"),
            {"ecs:cluster": _cluster(params, where)},
        )
    ],
    "ecs:DescribeTasks": lambda params, where: [
        ("ecs:DescribeTasks", _ecs_task(params, where, str(t)), {"ecs:cluster": _cluster(params, where)})
        for t in params.get("tasks", [])
    ],
    "ecs:DescribeTaskDefinition": _everything("ecs:DescribeTaskDefinition"),
    "ecs:RegisterTaskDefinition": _register_task_definition,
    "ecs:ListTaskDefinitions": _everything("ecs:ListTaskDefinitions"),
    "ecs:DeregisterTaskDefinition": _everything("ecs:DeregisterTaskDefinition"),
    "ecs:ListTagsForResource": lambda params, where: [
        ("ecs:ListTagsForResource", str(params["resourceArn"]), {})
    ],
    # CloudWatch Logs: GetLogEvents on the log stream.
    "logs:GetLogEvents": lambda params, where: [
        (
            "logs:GetLogEvents",
            where.arn("logs", f"log-group:{params['logGroupName']}:log-stream:{params['logStreamName']}"),
            {},
        )
    ],
    # SNS, Secrets Manager, Lambda.
    "sns:Publish": lambda params, where: [("sns:Publish", str(params["TopicArn"]), {})],
    "secretsmanager:GetSecretValue": lambda params, where: secret_checks(str(params["SecretId"]), where),
    "lambda:Invoke": lambda params, where: [
        (
            "lambda:InvokeFunction",
            str(params["FunctionName"])
            if str(params["FunctionName"]).startswith("arn:")
            else where.arn("lambda", f"function:{params['FunctionName']}"),
            {},
        )
    ],
}


def role_policies(account_id: str, region: str, role_arn: str) -> list[Any]:
    """The identity policy documents IAM evaluates for a role: inline ones and the default version of
    each attached managed policy; none for a role that does not exist."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    try:
        role = iam_backends[account_id][get_partition(region)].get_role_by_arn(role_arn)
    except NotFoundException:
        return []
    documents: list[Any] = list(role.policies.values())
    for policy in role.managed_policies.values():
        documents += [version.document for version in policy.versions if version.is_default]
    return documents


# ---------------------------------------------------------------------------------- the hook
@dataclass
class CallAuthorizer:
    """Authorizes the calls of the function whose handler runs in this thread (`current`)."""

    where: Where
    policies_of: Callable[[str], list[Any]]  # role ARN -> its identity policy documents
    # (logical id, role ARN) of the function whose handler runs in this thread, None outside one.
    current: Callable[[], tuple[str, str] | None]
    resource_policy_of: Callable[[str], Any] = lambda resource: None
    # (logical id, role ARN) of a service calling on the stack's behalf outside any function: Step
    # Functions invoking a Lambda under the state machine's role.
    acting_service: Callable[[], tuple[str, str] | None] = lambda: None
    records: list[CallRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---------------------------------------------------------------- botocore
    def install(self, events: Any) -> None:
        events.register("before-parameter-build", self._before_parameter_build)

    def uninstall(self, events: Any) -> None:
        events.unregister("before-parameter-build", self._before_parameter_build)

    def _before_parameter_build(self, params: Params, model: Any, **_: Any) -> None:
        running = self.current() or self.acting_service()
        if running is None:
            return  # the twin's own calls (provisioning, Fargate, tests): not a principal of the stack
        function, role_arn = running
        prefix = model.service_model.signing_name or model.service_model.endpoint_prefix
        operation = f"{prefix}:{model.name}"
        self.authorize(function, role_arn, operation, params)

    def authorize(self, function: str, role_arn: str, operation: str, params: Params) -> CallRecord:
        """Decide one call; AccessDenied (as `ClientError`) unless every check is allowed."""
        builder = _REQUESTS.get(operation)
        if builder is None:
            raise UnknownOperation(
                f"{function} called {operation}, which the twin cannot authorize (cpctl/twin/iam_calls.py)"
            )
        checks = tuple(builder(params, self.where))
        identity = self.policies_of(role_arn)
        decision = Decision.ALLOW
        denied: Check | None = None
        for action, resource, context in checks:
            request = Request(
                action,
                resource,
                principal_arn=role_arn,
                account_id=self.where.account,
                context={"aws:SecureTransport": "true", "aws:PrincipalArn": role_arn, **context},
            )
            verdict = decide(identity, request, resource_policy=self.resource_policy_of(resource))
            if verdict is not Decision.ALLOW:
                decision, denied = verdict, (action, resource, context)
                break
        record = CallRecord(function, role_arn, operation, checks, decision)
        with self._lock:
            self.records.append(record)
        if denied is not None:
            action, resource, _ = denied
            why = (
                "an explicit deny"
                if decision is Decision.EXPLICIT_DENY
                else "no identity-based policy allows"
            )
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied" if operation.startswith("s3:") else "AccessDeniedException",
                        "Message": f"User: {role_arn} is not authorized to perform: {action} on resource: "
                        f"{resource} because {why} the {action} action",
                    },
                    "ResponseMetadata": {
                        "HTTPStatusCode": 403,
                        "HTTPHeaders": {},
                        "HostId": "",
                        "RequestId": "",
                        "RetryAttempts": 0,
                    },
                },
                operation.split(":", 1)[1],
            )
        return record


# ---------------------------------------------------------------------------------- services acting
EVENTS_PRINCIPAL = "events.amazonaws.com"


@dataclass(frozen=True)
class TargetCheck:
    """EventBridge delivering one event to one target: what IAM was asked and what it answered."""

    rule_arn: str
    target_arn: str
    check: Check
    decision: Decision
    under: str  # the target's role ARN, or the resource policy of the target


def target_check(
    rule_arn: str,
    target: Mapping[str, Any],
    *,
    where: Where,
    policies_of: Callable[[str], list[Any]],
    resource_policy_of: Callable[[str], Any],
) -> TargetCheck:
    """Decide EventBridge's delivery to `target` the way EventBridge is authorized for it.

    A Step Functions target is started under the target's `RoleArn` (identity policies); a Lambda
    function or an SQS queue (a target, or a dead-letter queue) is reached by `events.amazonaws.com`
    through the resource's own policy, conditioned on the rule's ARN (EventBridge User Guide, "Using
    resource-based policies for Amazon EventBridge" and "Permissions for a dead-letter queue").
    """
    arn = str(target["Arn"])
    service = arn.split(":")[2]
    context = {"aws:SourceArn": rule_arn, "aws:SourceAccount": where.account, "aws:SecureTransport": "true"}
    if service == "states":
        role = str(target.get("RoleArn") or "")
        check: Check = ("states:StartExecution", arn, {})
        request = Request(
            check[0],
            arn,
            principal_arn=role,
            account_id=where.account,
            context={"aws:PrincipalArn": role, "aws:SecureTransport": "true"},
        )
        decision = decide(policies_of(role), request) if role else Decision.IMPLICIT_DENY
        return TargetCheck(rule_arn, arn, check, decision, role or "no RoleArn")
    actions = {"lambda": "lambda:InvokeFunction", "sqs": "sqs:SendMessage"}
    if service not in actions:
        raise UnknownOperation(f"EventBridge target {arn}: the twin cannot authorize delivery to {service}")
    check = (actions[service], arn, context)
    request = Request(
        check[0], arn, account_id=where.account, context=context, service_principal=EVENTS_PRINCIPAL
    )
    policy = resource_policy_of(arn)
    decision = decide([], request, resource_policy=policy) if policy is not None else Decision.IMPLICIT_DENY
    return TargetCheck(rule_arn, arn, check, decision, f"the resource policy of {arn}")
