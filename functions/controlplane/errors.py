"""Every error name the deployment workflow can show: what handlers raise and what the ASL names.

Step Functions reports an unhandled Python exception under its class name, so `Retry` and `Catch`
in `statemachine/deploy_control_plane.asl.json` name these classes. The `Fail` states of the
workflow end with the error names of `WORKFLOW_ENDS`, the one table of how an execution ends;
`tests/unit/test_asl.py` checks that every name the ASL uses is defined here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

    from controlplane.models import Outcome


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


# ---------------------------------------------------------------- how an execution ends


@dataclass(frozen=True)
class WorkflowEnd:
    """One way a deployment execution ends: the Error of its Fail state (None: it succeeds) and the
    outcome that stands for it; `decided` when Record outcome decides it, else a Fail state ends the
    execution after a caught error and Record outcome never ran to its end."""

    error: str | None
    outcome: Outcome
    decided: bool = True


# Every way the workflow ends; `cpctl` shows these error names as they are.
WORKFLOW_ENDS: tuple[WorkflowEnd, ...] = (
    WorkflowEnd(None, "succeeded"),
    # An upload of the content the service already runs: recorded, not restarted.
    WorkflowEnd(None, "unchanged"),
    # Invalid: recorded and notified with every error; the service untouched.
    WorkflowEnd("ConfigRejected", "rejected"),
    # Failed before the service was changed, or gave up waiting for its turn or for load tests.
    WorkflowEnd("DeploymentFailed", "failed"),
    # The new revision failed and the service is back on the last good revision.
    WorkflowEnd("DeploymentRolledBack", "rolled_back"),
    # The new revision failed and so did the rollback: manual action needed.
    WorkflowEnd("RollbackFailed", "rollback_failed"),
    # The trigger could not be admitted (malformed input, unknown version): nothing was touched.
    WorkflowEnd("AdmissionFailed", "failed", decided=False),
    # The outcome could not be recorded or notified; the Cause says what happened to the service.
    WorkflowEnd("RecordingFailed", "failed", decided=False),
)


def error_of_outcome(outcome: Outcome) -> str | None:
    """The Error a decided outcome ends the execution with (None: the execution succeeds)."""
    return next(end.error for end in WORKFLOW_ENDS if end.decided and end.outcome == outcome)


def outcome_of_error(error: str | None) -> Outcome | None:
    """The outcome an execution that failed with this Error stands for; None for another error."""
    return next((end.outcome for end in WORKFLOW_ENDS if error and end.error == error), None)
