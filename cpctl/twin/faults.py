"""Every fault the twin can inject, declared once: its name, what the twin does, and the AWS behaviour
it stands for.

`cpctl local deploy --fault` and `cpctl local up --fault` offer the `deploy` faults, `cpctl local
health-check --fault` the `health` ones; `test` faults are for the test suite only. The CLI's choices and help, the table in
docs/local-twin.md (a test keeps the two equal) and the dispatch (`LocalTwin.arm`,
`SimulatedFargate.arm`, `HealthFaults.inject`) all read `FAULTS`. A new fault is one entry here and
one branch where the part of the twin named by `armed_by` acts it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Scope = Literal["deploy", "health", "test"]
# Which part of the twin acts the fault out: the simulated Fargate, the fake Gatling, the Lambda
# service, EventBridge's delivery, or the health faults (cpctl/twin/health_faults.py).
ArmedBy = Literal["fargate", "gatling", "lambdas", "eventbridge", "health"]


@dataclass(frozen=True)
class Fault:
    name: str
    scope: Scope
    armed_by: ArmedBy
    simulates: str  # what the twin does
    aws: str  # the AWS behaviour it stands for


FAULTS: Final[tuple[Fault, ...]] = (
    Fault(
        "task-fails-to-start",
        "deploy",
        "fargate",
        "the new revision's control plane exits 1 as it starts, after its task is RUNNING (a config its "
        "JVM refuses)",
        "ECS's circuit breaker does not count a task that reached RUNNING and then exited "
        "(Deployment.failedTasks) and keeps restarting it",
    ),
    Fault(
        "config-download-denied",
        "deploy",
        "fargate",
        "the task role may not read the uploaded version: the side-car's `aws s3api get-object` fails",
        "S3 answers AccessDenied to a GetObject the caller's policies deny; the task never reaches RUNNING",
    ),
    Fault(
        "never-up",
        "deploy",
        "fargate",
        "the task runs but `/info` never answers and nothing registers with Gatling",
        "a task ECS reports RUNNING whose application hangs (ECS knows nothing of it)",
    ),
    Fault(
        "gatling-api-flaky",
        "deploy",
        "gatling",
        "every other request to the fake Gatling API answers 503",
        "a remote API's transient server errors",
    ),
    Fault(
        "lambda-transient",
        "deploy",
        "lambdas",
        "the first invocation of every function fails as the Lambda service does "
        "(`Lambda.ServiceException`, `Lambda.TooManyRequestsException`, alternately); the handler never runs",
        "Lambda service errors that Step Functions retries (Step Functions developer guide, "
        '"Handle transient Lambda service exceptions")',
    ),
    Fault(
        "lambda-result-lost",
        "deploy",
        "lambdas",
        "the first invocation of every function by Step Functions runs to its end, side effects and "
        "all, then answers `Lambda.ServiceException` instead of its result, so the Task's Retry runs "
        "it again",
        "a Lambda service error after the function ran: Step Functions retries Lambda service errors, "
        'and a retried function must be idempotent (Step Functions developer guide, "Handle transient '
        'Lambda service exceptions"; Lambda developer guide, "Understanding retry behavior in Lambda")',
    ),
    Fault(
        "rollback-fails",
        "deploy",
        "fargate",
        "the new revision fails to start, and so do the tasks of the rollback",
        "a rollback target that no longer starts (its image or its config gone)",
    ),
    Fault(
        "slow-rollout",
        "deploy",
        "fargate",
        "the new task takes 20 simulated minutes to reach RUNNING, past the 15-minute deadline",
        "slow image pulls or capacity shortages that keep a task PENDING",
    ),
    Fault(
        "image-tag-moved",
        "deploy",
        "fargate",
        "the registry moves every control plane image tag in use to a new build that exits 1 at start: "
        "deployments that resolve the tag from now on run it, a digest-pinned revision and ECS's own "
        "rollback do not",
        "a mutable image tag moved to another build; ECS resolves a tag to a digest once per deployment "
        'and a circuit-breaker rollback reuses the last successful service revision ("Container image '
        'resolution", ECS developer guide; "Amazon ECS service revisions")',
    ),
    Fault(
        "token-rejected",
        "deploy",
        "gatling",
        'a literal `token = "cpt_..."` in the file is refused by the fake Gatling (401); without this '
        "fault the fake takes such a token as one of your organisation's, so your own file deploys",
        "a control plane token Gatling revoked or never issued: the control plane is refused at start",
    ),
    Fault(
        "crash-after-up",
        "deploy",
        "fargate",
        "the new control plane comes up, then exits 1 (`OutOfMemoryError` in its log) 2 simulated "
        "minutes later, inside the bake",
        "an application that fails after it started serving; ECS replaces the task and its circuit "
        "breaker does not count it (Deployment.failedTasks)",
    ),
    Fault(
        "run-in-progress",
        "deploy",
        "gatling",
        "just before the upload, a load test run starts on the first location the running control plane "
        "registered; it ends 12 simulated minutes later",
        "a Gatling Enterprise run using the control plane's locations (`GET /v2/runs`, "
        "`GET /v2/runs/{runId}` of Gatling's public API)",
    ),
    Fault(
        "run-never-ends",
        "deploy",
        "gatling",
        "the same run, which never ends: the deployment reaches `RunWaitMinutes` and follows `RunWaitExpiry`",
        "a run left running (or a status the workflow cannot tell ended), which it counts as running",
    ),
    Fault(
        "events-duplicated",
        "deploy",
        "eventbridge",
        "from the upload on, every event a rule delivers (the upload's S3 event, ECS's task and "
        "deployment events, schedules) reaches each target once at once and once more, the same event, "
        "60 simulated seconds later",
        "events are delivered at least once, so the same event can reach a target twice (S3 User "
        'Guide, "Amazon S3 Event Notifications"; EventBridge User Guide, "Event delivery from AWS '
        'services")',
    ),
    Fault(
        "event-late",
        "deploy",
        "eventbridge",
        "the upload's S3 event is held back and delivered 60 simulated seconds after the next upload's "
        "event (out of order); with no later upload, once nothing else is left to run",
        "event notifications are not guaranteed to arrive in the order the events happened, and "
        "may take a minute or longer: an older upload's event can arrive after a newer one's (S3 User "
        'Guide, "Event message structure" and "Amazon S3 Event Notifications")',
    ),
    Fault(
        "task-stopped",
        "health",
        "health",
        "stops the running task (StopTask); its replacement cannot be placed for an hour unless a new "
        "deployment starts",
        "a task stopped outside the workflow, with replacements that keep failing to launch or find "
        "no capacity (ECS backs off its retries)",
    ),
    Fault(
        "never-up",
        "health",
        "health",
        "the running control plane stops answering `/info` (its task keeps RUNNING) and every task of "
        "the same config version hangs",
        "a hung application in a task ECS reports RUNNING",
    ),
    Fault(
        "revision-drift",
        "health",
        "health",
        "UpdateService to the stack's original task definition by hand, as a stack update does",
        "CloudFormation re-sending the template's TaskDefinition on an update of the service",
    ),
    Fault(
        "lost-upload",
        "health",
        "health",
        "puts a new config version with the upload rule disabled, so its event never reaches the workflow",
        "an S3 event EventBridge never delivered (a rule disabled or failing at that moment)",
    ),
    Fault(
        "transient",
        "test",
        "health",
        "the running task stops once and ECS replaces it as usual",
        "a task replaced by ECS (a host retired, a container that exited once)",
    ),
)


def names(scope: Scope, *, armed_by: tuple[ArmedBy, ...] | None = None) -> tuple[str, ...]:
    """The names of the faults of `scope` (optionally only those acted out by `armed_by`), in order."""
    return tuple(
        fault.name
        for fault in FAULTS
        if fault.scope == scope and (armed_by is None or fault.armed_by in armed_by)
    )


def find(name: str, *scopes: Scope) -> Fault | None:
    """The fault `name` of the first of `scopes` that declares it."""
    for scope in scopes:
        for fault in FAULTS:
            if fault.name == name and fault.scope == scope:
                return fault
    return None


def help_text(scope: Scope, *, repeatable: bool = False) -> str:
    """`--fault`'s help: every fault of `scope` with what it does."""
    head = "inject a fault (repeatable): " if repeatable else "inject a fault: "
    return head + "; ".join(f"{fault.name}: {fault.simulates}" for fault in FAULTS if fault.scope == scope)


def unknown(name: str, *scopes: Scope) -> str:
    known = [fault for scope in scopes for fault in names(scope)]
    return f"unknown fault {name!r}; known: {', '.join(known)}"


_COMMANDS: Final[dict[Scope, str]] = {
    "deploy": "`local deploy`, `local up`",
    "health": "`local health-check`",
    "test": "tests only",
}


def markdown_table() -> list[str]:
    """The table of docs/local-twin.md, one line per fault (a test compares the two)."""
    lines = [
        "| fault | offered by | what the twin does | the AWS behaviour it stands for |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{fault.name}` | {_COMMANDS[fault.scope]} | {fault.simulates} | {fault.aws} |" for fault in FAULTS
    ]
    return lines
