"""What a deployment's exit code means, the same for `cpctl deploy`, `rollback`, `redeploy` and
`cpctl local deploy` (docs/cli.md lists them)."""

from __future__ import annotations

SUCCEEDED = 0  # the control plane is up on the version asked for
FAILED = 1  # the deployment did not succeed for another reason (DeploymentFailed, nothing deployed ...)
USAGE = 2  # bad arguments, or the stack or its resources cannot be read
REJECTED = 3  # the config is invalid: refused before the upload, or by the workflow (ConfigRejected)
ROLLED_BACK = 4  # deployed, failed, rolled back to the last good revision (DeploymentRolledBack)
ROLLBACK_FAILED = 5  # the rollback failed too: manual action needed (RollbackFailed)
TIMED_OUT = 6  # the execution timed out, or was still running when --timeout ran out
INTERRUPTED = 130  # Ctrl-C: following stopped; the deployment goes on

# The Error of each Fail state of statemachine/deploy_control_plane.asl.json that has a code of its own.
BY_ERROR = {
    "ConfigRejected": REJECTED,
    "DeploymentRolledBack": ROLLED_BACK,
    "RollbackFailed": ROLLBACK_FAILED,
    "States.Timeout": TIMED_OUT,
}
SUCCESS_STATE = "Deployment succeeded"


def of_execution(status: str, error: str | None, last_state: str | None) -> int:
    """The exit code of an ended execution: its status, its Fail state's error, its last state."""
    if status == "SUCCEEDED":
        return SUCCEEDED if last_state == SUCCESS_STATE else FAILED
    if status == "TIMED_OUT":
        return TIMED_OUT
    return BY_ERROR.get(error or "", FAILED)
