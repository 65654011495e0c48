"""Every error name the deployment workflow can show: what handlers raise and what the ASL names.

Step Functions reports an unhandled Python exception under its class name, so `Retry` and `Catch`
in `statemachine/deploy_control_plane.asl.json` name these classes. The `Fail` states of the
workflow end with the names of the `WorkflowOutcome` subclasses; `tests/unit/test_asl.py` checks
that every name the ASL uses is defined here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.exceptions import ClientError


def error_code(error: ClientError, default: str = "") -> str:
    """The AWS error code of a botocore ClientError (`AccessDenied`, `ConditionalCheckFailedException`...)."""
    return str(error.response.get("Error", {}).get("Code") or default)


class ControlPlaneError(Exception):
    """Base of every error raised by the `controlplane` package."""


# ---------------------------------------------------------------- raised by handlers


class SettingsError(ControlPlaneError):
    """The Lambda's environment lacks a setting it needs (a template bug, never retried)."""


class InvalidRequest(ControlPlaneError):
    """A trigger the workflow cannot act on: wrong bucket or key, or a malformed request."""


class ConfigVersionNotFound(ControlPlaneError):
    """The requested config version does not exist in the bucket (a mistyped rollback version id)."""


class ServiceNotFound(ControlPlaneError):
    """The ECS service of this stack is missing or inactive."""


class TaskDefinitionUnsupported(ControlPlaneError):
    """The service's task definition has no `config-loader` container to pin a config version on."""


class InconsistentState(ControlPlaneError):
    """A step received a workflow state that lacks what an earlier step should have produced."""


# ---------------------------------------------------------------- internal, never leave a handler


class GatlingApiError(ControlPlaneError):
    """Gatling's public API answered with something the checker cannot use."""


class GatlingApiUnavailable(GatlingApiError):
    """Gatling's API is unreachable or answered 5xx/429: tolerated until the deadline."""


class GatlingApiRefused(GatlingApiError):
    """Gatling's API refused the API token (401/403): the check cannot succeed by waiting."""


class ApiTokenUnreadable(GatlingApiRefused):
    """The Gatling API token's secret could not be read (denied, its KMS key not usable, deleted): a
    broken check, like a refused token, never a broken control plane."""


# ---------------------------------------------------------------- names of the workflow's Fail states


class WorkflowOutcome(ControlPlaneError):
    """Base of the error names a failed execution ends with; `cpctl` shows them as they are."""


class AdmissionFailed(WorkflowOutcome):
    """The trigger could not be admitted (malformed input, unknown version): nothing was touched."""


class ConfigRejected(WorkflowOutcome):
    """The config version is invalid: recorded and notified with every error; the service untouched."""


class DeploymentFailed(WorkflowOutcome):
    """The deployment failed before the service was changed, or gave up waiting for its turn."""


class DeploymentRolledBack(WorkflowOutcome):
    """The new revision failed and the service is back on the last good revision."""


class RollbackFailed(WorkflowOutcome):
    """The new revision failed and so did the rollback: manual action needed."""


class RecordingFailed(WorkflowOutcome):
    """The outcome could not be recorded or notified; the Cause says what happened to the service."""
