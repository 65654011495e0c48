"""The state machine stays honest: placeholders, transitions, retries, timeouts, bounded loops, error
names, the paths it reads, the README's diagram, and a run of the real ASL with the real handlers in
moto's interpreter, whose history gives the transition count of a deployment."""

from __future__ import annotations

import importlib
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import msgspec
import pytest
from controlplane import errors
from controlplane.aws_clients import reset_clients
from controlplane.http_client import HttpResponse
from controlplane.models import OutcomeResult, WorkflowState
from controlplane.records import RecordStore
from controlplane.settings import reset_settings
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

from tests.conftest import REPO_ROOT, load_template
from tests.unit import workflow_fakes as fakes

ASL_PATH = REPO_ROOT / "statemachine" / "deploy_control_plane.asl.json"
README = REPO_ROOT / "README.md"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
LAMBDA_TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def state_machine() -> dict[str, Any]:
    return dict(load_template()["Resources"]["DeployStateMachine"]["Properties"])


def substitutions() -> dict[str, Any]:
    return dict(state_machine()["DefinitionSubstitutions"])


WORKFLOW_LOG_GROUP = "/aws/lambda/cp-workflow"


def render(values: dict[str, str] | None = None) -> dict[str, Any]:
    """The ASL with every placeholder replaced: numbers by the template's numbers, ARNs by fake ones."""
    numbers = {k: str(v) for k, v in substitutions().items() if isinstance(v, int)}
    chosen = {**numbers, "WorkflowLogGroupName": WORKFLOW_LOG_GROUP, **(values or {})}
    text = PLACEHOLDER.sub(
        lambda m: chosen.get(m.group(1), f"arn:aws:lambda:eu-west-1:123456789012:function:{m.group(1)}"),
        ASL_PATH.read_text(),
    )
    return dict(json.loads(text))


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return render()


def tasks(asl: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    return ((name, s) for name, s in asl["States"].items() if s["Type"] == "Task")


def choice_rules(rules: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for rule in rules:
        yield rule
        for key in ("And", "Or"):
            yield from choice_rules(rule.get(key, []))
        if "Not" in rule:
            yield from choice_rules([rule["Not"]])


def successors(state: dict[str, Any]) -> list[str]:
    found = [state["Next"]] if "Next" in state else []
    found += [rule["Next"] for rule in state.get("Choices", [])]
    found += [state["Default"]] if "Default" in state else []
    found += [catch["Next"] for catch in state.get("Catch", [])]
    return found


def reachable(asl: dict[str, Any], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(successors(asl["States"][name]))
    return seen


# ---------------------------------------------------------------- structure


def test_placeholders_match_definition_substitutions() -> None:
    used = set(PLACEHOLDER.findall(ASL_PATH.read_text()))
    assert used == set(substitutions())


def test_only_features_moto_interprets_are_used() -> None:
    text = ASL_PATH.read_text()
    for forbidden in ("JSONata", '"Assign"', '"Arguments"', "http:invoke", "aws-sdk:", "Variables"):
        assert forbidden not in text
    assert not re.search(r'"\$[^"]*\[\d', text), "no $.a[0].b paths"


def test_every_next_exists_and_every_state_is_reachable(asl: dict[str, Any]) -> None:
    names = set(asl["States"])
    for name, state in asl["States"].items():
        for target in successors(state):
            assert target in names, f"{name} -> {target}"
        if state["Type"] in ("Task", "Pass", "Wait"):
            assert "Next" in state or state.get("End") is True
    assert reachable(asl, asl["StartAt"]) == names


def test_every_task_invokes_a_lambda_with_retry_catch_and_timeout(asl: dict[str, Any]) -> None:
    for name, state in tasks(asl):
        assert state["Resource"] == "arn:aws:states:::lambda:invoke", name
        assert state["OutputPath"] == "$.Payload", name
        retry = state["Retry"]
        assert any(
            set(r["ErrorEquals"]) >= LAMBDA_TRANSIENT and r.get("JitterStrategy") == "FULL" for r in retry
        ), name
        assert all(r["MaxAttempts"] <= 10 and "MaxDelaySeconds" in r for r in retry), name
        assert [c["ErrorEquals"] for c in state["Catch"]][-1] == ["States.ALL"], name
        assert 0 < state["TimeoutSeconds"] <= 900, name
    assert 0 < asl["TimeoutSeconds"] <= 24 * 3600


def function_of(state: dict[str, Any]) -> str:
    """The template's logical id of the function a Task invokes."""
    placeholder = state["Parameters"]["FunctionName"].rsplit(":", 1)[-1]
    return str(substitutions()[placeholder]["Fn::GetAtt"][0])


def test_task_timeouts_exceed_their_function_timeouts(asl: dict[str, Any]) -> None:
    template = load_template()
    default = template["Globals"]["Function"]["Timeout"]
    for name, state in tasks(asl):
        function = function_of(state)
        timeout = template["Resources"][function]["Properties"].get("Timeout", default)
        assert state["TimeoutSeconds"] > timeout, f"{name}: the Task must outlive its Lambda ({function})"


def test_each_task_calls_a_function_of_the_template_whose_handler_exists(asl: dict[str, Any]) -> None:
    template = load_template()
    for name, state in tasks(asl):
        handler = template["Resources"][function_of(state)]["Properties"]["Handler"]
        module, function = handler.split(".")
        assert function == "lambda_handler"
        assert (REPO_ROOT / "functions" / f"{module}.py").is_file(), f"{name}: {handler}"


def test_every_error_name_is_defined_in_the_errors_module(asl: dict[str, Any]) -> None:
    names: set[str] = set()
    for state in asl["States"].values():
        for policy in state.get("Retry", []) + state.get("Catch", []):
            names.update(policy["ErrorEquals"])
        if state["Type"] == "Fail":
            names.add(state["Error"])
    own = {n for n in names if not n.startswith(("States.", "Lambda."))}
    assert own, "the Fail states name their errors"
    ends = {end.error for end in errors.WORKFLOW_ENDS}
    for name in own:
        raised = isinstance(getattr(errors, name, None), type) and issubclass(
            getattr(errors, name), Exception
        )
        assert raised or name in ends, name


def test_each_fail_state_ends_with_the_error_of_the_outcome_it_stands_for(asl: dict[str, Any]) -> None:
    """The table of how an execution ends says what the ASL does: Record outcome's outcome chooses
    the end state, whose Error is the one the table gives that outcome; the others are caught errors."""
    states = asl["States"]
    fail_errors = {s["Error"] for s in states.values() if s["Type"] == "Fail"}
    assert fail_errors == {end.error for end in errors.WORKFLOW_ENDS if end.error is not None}
    choice = states["Outcome?"]
    nexts = {rule["StringEquals"]: rule["Next"] for rule in choice["Choices"]}
    decided = {end.outcome for end in errors.WORKFLOW_ENDS if end.decided}
    assert set(nexts) | {"failed"} == decided, "every decided outcome has its end state"
    for outcome in decided:
        end = states[nexts.get(outcome, choice["Default"])]
        while end["Type"] == "Pass":
            end = states[end["Next"]]
        expected = errors.error_of_outcome(outcome)
        assert end.get("Error") == expected, outcome
        assert (end["Type"] == "Succeed") == (expected is None), outcome
    for end in errors.WORKFLOW_ENDS:
        if end.error is not None:
            assert errors.outcome_of_error(end.error) == end.outcome


def test_fail_states_say_why(asl: dict[str, Any]) -> None:
    fails = {name: s for name, s in asl["States"].items() if s["Type"] == "Fail"}
    assert fails
    for name, state in fails.items():
        assert "Error" in state and ("Cause" in state or "CausePath" in state), name


def predecessors(asl: dict[str, Any], target: str) -> list[tuple[str, bool]]:
    """Every (state, through a Catch) that can move to `target`."""
    found = []
    for name, state in asl["States"].items():
        if target in successors({key: value for key, value in state.items() if key != "Catch"}):
            found.append((name, False))
        if any(catch["Next"] == target for catch in state.get("Catch", [])):
            found.append((name, True))
    return found


FORMAT = re.compile(r"^States\.Format\('((?:[^'\\]|\\.)*)'((?:,\s*[^,)]+)*)\)$")


def _format_of(value: str) -> tuple[str, list[str]]:
    """The text (placeholders removed) and the argument paths of a States.Format call."""
    match = FORMAT.match(value)
    assert match, f"not a States.Format call: {value}"
    arguments = [a.strip() for a in match.group(2).split(",") if a.strip()]
    return match.group(1).replace("{}", ""), arguments


def _why_unset(asl: dict[str, Any], name: str, path: str, catch: bool, seen: frozenset[str]) -> str | None:
    """Why `path` may be empty or missing when `name` moves on (through a Catch or not); None if it cannot."""
    state = asl["States"][name]
    if catch:
        return f"{name} reaches it through a Catch, whose Cause can be empty or absent (States.Timeout)"
    if state["Type"] == "Choice":  # passes its input on: every way into it must have set the path
        if name in seen:
            return None
        for source, through_catch in predecessors(asl, name):
            why = _why_unset(asl, source, path, through_catch, seen | {name})
            if why:
                return f"{why}, then {name}"
        return None
    if state["Type"] == "Pass":
        result_path = state.get("ResultPath", "$")
        value = state.get("Parameters", {}).get(path.removeprefix(result_path + ".") + ".$")
        if not path.startswith(result_path + ".") or not isinstance(value, str):
            return f"{name} does not set {path}"
        text, _ = _format_of(value)
        return None if len(text.split()) >= 10 else f"{name} sets {path} to too short a sentence: {text!r}"
    if (
        state["Type"] == "Task"
        and path.startswith("$.result.")
        and function_of(state) == "RecordOutcomeFunction"
    ):
        (field,) = [
            f for f in msgspec.structs.fields(OutcomeResult) if f.name == path.removeprefix("$.result.")
        ]
        if any(
            (getattr(rule, "min_length", 0) or 0) >= 1 for rule in getattr(field.type, "__metadata__", ())
        ):
            return None
        return f"OutcomeResult.{path.removeprefix('$.result.')} may be empty"
    return f"{name} ({state['Type']}) does not set {path}"


def test_no_fail_state_can_end_with_an_empty_cause(asl: dict[str, Any]) -> None:
    """Every Fail state's Cause is a literal, or set on every way to it by a state that always sets it:
    a Pass state building a sentence with States.Format, or Record outcome (a non-empty model field).
    A caught error's own Cause is never used as it is: States.Timeout leaves it empty."""
    for name, state in asl["States"].items():
        if state["Type"] != "Fail":
            continue
        if "Cause" in state:
            assert state["Cause"].strip(), name
            continue
        ways = predecessors(asl, name)
        assert ways, name
        for source, through_catch in ways:
            why = _why_unset(asl, source, state["CausePath"], through_catch, frozenset())
            assert why is None, f"{name} can end with an empty Cause: {why}"


def test_a_format_argument_that_may_be_absent_is_read_only_once_a_choice_proved_it_there(
    asl: dict[str, Any],
) -> None:
    checked = 0
    for name, state in asl["States"].items():
        if state["Type"] != "Pass":
            continue
        for value in state.get("Parameters", {}).values():
            if not str(value).startswith("States.Format("):
                continue
            for argument in _format_of(value)[1]:
                if not argument.endswith(".Cause"):
                    continue
                checked += 1
                for source, through_catch in predecessors(asl, name):
                    rules = [r for r in asl["States"][source].get("Choices", []) if r["Next"] == name]
                    assert not through_catch and rules, f"{name} reads {argument} from {source}"
                    tests = list(choice_rules(rules))
                    assert {"Variable": argument, "IsPresent": True} in tests, name
                    assert {"Not": {"Variable": argument, "StringEquals": ""}} in tests, name
    assert checked, "the caught errors' causes are quoted when there is one"


def _counted(rule: dict[str, Any], limit: int) -> bool:
    return any(
        r.get("Variable", "").endswith(".invocations") and r.get("NumericLessThan") == limit
        for r in choice_rules(rule.get("And", []))
    )


def test_every_loop_is_bounded_by_a_counter(asl: dict[str, Any]) -> None:
    """Without the counter-guarded Choice rules, the graph has no cycle left."""
    limit = substitutions()["MaxWaitInvocations"]
    graph: dict[str, list[str]] = {}
    guarded = 0
    for name, state in asl["States"].items():
        rules = state.get("Choices", [])
        guarded += sum(1 for rule in rules if _counted(rule, limit))
        kept = {**state, "Choices": [rule for rule in rules if not _counted(rule, limit)]}
        graph[name] = successors(kept)
    assert guarded == 6, "the admission, load test, rollout, up-check, bake and rollback loops"
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str) -> None:
        assert name not in visiting, f"unbounded loop through {name}"
        if name in done:
            return
        visiting.add(name)
        for target in graph[name]:
            visit(target)
        visiting.discard(name)
        done.add(name)

    visit(asl["StartAt"])


def _model_has_path(model: type[msgspec.Struct], path: list[str]) -> bool:
    current: Any = model
    for part in path:
        if not (isinstance(current, type) and issubclass(current, msgspec.Struct)):
            return False
        fields = {field.name: field for field in msgspec.structs.fields(current)}
        if part not in fields:
            return False
        annotation = fields[part].type
        inner = [
            a
            for a in getattr(annotation, "__args__", (annotation,))
            if isinstance(a, type) and issubclass(a, msgspec.Struct)
        ]
        current = inner[0] if inner else annotation
    return True


def test_choice_and_fail_paths_exist_in_the_workflow_state(asl: dict[str, Any]) -> None:
    paths = []
    for state in asl["States"].values():
        paths += [r["Variable"] for r in choice_rules(state.get("Choices", [])) if "Variable" in r]
        if "CausePath" in state:
            paths.append(state["CausePath"])
    for path in paths:
        parts = path.removeprefix("$.").split(".")
        if parts[-1] == "Cause":  # a Catch result: {"Error", "Cause"}
            assert parts[0] in WorkflowState.__struct_fields__ or parts[0] == "record_error", path
            continue
        assert _model_has_path(WorkflowState, parts), path


def test_catches_keep_the_state_and_put_the_error_where_handlers_read_it(asl: dict[str, Any]) -> None:
    for name, state in tasks(asl):
        for catch in state["Catch"]:
            assert catch["ResultPath"] in ("$.error", "$.rollback_error", "$.record_error"), name
    assert asl["States"]["Roll back"]["Catch"][0]["ResultPath"] == "$.rollback_error"


# ---------------------------------------------------------------- the README's diagram


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _label(rule: dict[str, Any]) -> str:
    words = []
    for r in choice_rules([rule]):
        value = r.get("StringEquals", r.get("BooleanEquals"))
        if value is True:  # a flag: its name (`$.validation.valid` -> valid)
            words.append(str(r["Variable"]).rsplit(".", 1)[-1])
        elif value is False:  # `$.admission.bake` false -> no bake
            words.append("no " + str(r["Variable"]).rsplit(".", 1)[-1].replace("_", " "))
        elif value not in (None, ""):
            words.append(str(value))
    if not words:  # presence tests: name what must be there
        fields = {r["Variable"].rsplit(".", 1)[-1].lower() for r in choice_rules([rule]) if "Variable" in r}
        words = [" / ".join(sorted(fields)) + " given"]
    return " / ".join(words)


def mermaid(asl: dict[str, Any]) -> str:
    """The workflow as a mermaid flowchart, generated from the ASL."""
    lines = ["flowchart TD"]
    for name, state in asl["States"].items():
        shape = {
            "Task": '["{}"]',
            "Pass": '[/"{}"/]',
            "Choice": '{{"{}"}}',
            "Succeed": '(["{}"])',
            "Fail": '[["{}"]]',
        }[state["Type"]]
        label = name if state["Type"] != "Fail" else f"{name}: {state['Error']}"
        lines.append(f"    {_slug(name)}{shape.format(label)}")
    for name, state in asl["States"].items():
        source = _slug(name)
        if "Next" in state:
            lines.append(f"    {source} --> {_slug(state['Next'])}")
        for rule in state.get("Choices", []):
            lines.append(f'    {source} -- "{_label(rule)}" --> {_slug(rule["Next"])}')
        if "Default" in state:
            lines.append(f'    {source} -- "otherwise" --> {_slug(state["Default"])}')
        for catch in state.get("Catch", []):
            lines.append(f'    {source} -. "error" .-> {_slug(catch["Next"])}')
    return "\n".join(lines)


def test_readme_diagram_is_the_one_generated_from_the_asl(asl: dict[str, Any]) -> None:
    readme = README.read_text()
    match = re.search(
        r"<!-- workflow-diagram:start -->\n```mermaid\n(.*?)\n```\n<!-- workflow-diagram:end -->",
        readme,
        re.S,
    )
    expected = mermaid(asl)
    assert match, "README.md lacks the workflow diagram block"
    assert match.group(1) == expected, "README diagram is stale; replace it with:\n" + expected


# ---------------------------------------------------------------- the real ASL and the real handlers, in moto


HANDLERS = {
    "AdmitDeploymentFunctionArn": "admit_deployment",
    "ValidateConfigFunctionArn": "validate_config",
    "RegisterRevisionFunctionArn": "register_revision",
    "StartRolloutFunctionArn": "start_rollout",
    "AwaitRolloutFunctionArn": "await_rollout",
    "AwaitControlPlaneUpFunctionArn": "await_control_plane_up",
    "AwaitLoadTestsFunctionArn": "await_load_tests",
    "BakeControlPlaneFunctionArn": "bake_control_plane",
    "RollBackFunctionArn": "roll_back",
    "RecordOutcomeFunctionArn": "record_outcome",
}


def test_handler_map_matches_the_template() -> None:
    template = load_template()
    for placeholder, module in HANDLERS.items():
        logical_id = substitutions()[placeholder]["Fn::GetAtt"][0]
        assert template["Resources"][logical_id]["Properties"]["Handler"] == f"{module}/app.lambda_handler"


class Run:
    """One stack in moto: bucket, table, topic, log group; ECS and the control plane's /info are fakes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, clock_: Any) -> None:

        self.clock = clock_
        self.ecs = fakes.FakeEcs()
        self.s3 = boto3.client("s3", region_name=fakes.REGION)
        self.sfn = boto3.client("stepfunctions", region_name=fakes.REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=fakes.REGION)
        sns = boto3.client("sns", region_name=fakes.REGION)
        fakes.create_records_table(self.dynamodb)
        self.topic = sns.create_topic(Name="cp-deployments")["TopicArn"]
        boto3.client("logs", region_name=fakes.REGION).create_log_group(logGroupName=fakes.LOG_GROUP)
        self.versions = fakes.create_config_bucket(self.s3, [fakes.VALID_CONFIG])
        for name, value in {**fakes.ENV, "NOTIFICATION_TOPIC_ARN": self.topic}.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        reset_clients()
        self.info_answers: list[int] = []
        self.modules = {p: importlib.import_module(f"{m}.app") for p, m in HANDLERS.items()}
        for module in self.modules.values():
            if hasattr(module, "ecs_client"):
                monkeypatch.setattr(module, "ecs_client", lambda: self.ecs)

        def http_get(url: str, headers: Any, timeout: float) -> HttpResponse:
            return HttpResponse(self.info_answers.pop(0) if self.info_answers else 200, b"{}")

        # The up-checker invokes the probe function (in moto, routed below), which sends GET /info.
        probe = importlib.import_module("probe_info.app")
        monkeypatch.setattr(probe, "http_get", http_get)
        modules = {**self.modules, fakes.PROBE_FUNCTION: probe}

        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response: Any
        ) -> bytes:
            handler = modules[function_name.rsplit(":", 1)[-1]].lambda_handler
            try:
                return json.dumps(handler(json.loads(body), fakes.FakeLambdaContext())).encode()
            except Exception as error:
                response["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()

        monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
        self.arn = self.machine("cp-deploy")

    def machine(self, name: str, values: dict[str, str] | None = None) -> str:
        """A state machine of the ASL rendered with `values` for some placeholders; its ARN."""
        return str(
            self.sfn.create_state_machine(
                name=name,
                definition=json.dumps(render(values)),
                roleArn=f"arn:aws:iam::{fakes.ACCOUNT}:role/sfn",
            )["stateMachineArn"]
        )

    def upload(self, body: bytes) -> dict[str, Any]:
        """Put a new config version; the rule's clean input for it."""

        version = self.s3.put_object(Bucket=fakes.BUCKET, Key=fakes.KEY, Body=body)["VersionId"]
        self.versions.append(version)
        return fakes.upload_request(version, sequencer=f"{len(self.versions):018X}", size=len(body))

    def execute(self, payload: dict[str, Any], name: str, machine: str | None = None) -> dict[str, Any]:

        execution = self.sfn.start_execution(
            stateMachineArn=machine or self.arn, name=name, input=json.dumps(payload)
        )
        for _ in range(600):
            described = self.sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                break
            time.sleep(0.02)
        history = self.sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)[
            "events"
        ]
        described["transitions"] = sum(1 for e in history if e["type"].endswith("StateEntered"))
        described["states"] = [
            e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")
        ]
        return dict(described)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:

    config: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config), fakes.fake_clock() as clock_:
        clock_.time = time.time()
        yield Run(monkeypatch, clock_)


def test_a_deployment_takes_15_transitions_and_is_seen_done_within_one_poll(run: Run) -> None:
    """Rollout done 90 s after UpdateService, control plane up 15 s later, then the default 5-minute
    bake: 15 transitions (target <= 20); the bake is 2. Without a Gatling API token (none here) the
    load test check is skipped; with one it is 2 more (the twin's happy path: 17)."""

    done_at: list[float] = []

    def complete(ecs: fakes.FakeEcs) -> None:
        ecs.complete()
        done_at.append(run.clock.now())

    run.ecs.script = [lambda ecs: None] * 18 + [complete]  # 18 polls x 5 s = 90 s of rollout
    run.info_answers = [503, 503, 503]  # /info answers from the 4th probe: 15 s
    result = run.execute(run.upload(fakes.VALID_CONFIG), "happy")
    assert result["status"] == "SUCCEEDED", result
    assert result["transitions"] == 15 <= 20, result["states"]
    assert "Wait for load test runs" not in result["states"], "no token: the runs are not checked"
    output = json.loads(result["output"])
    # The bake watched the control plane for 5 minutes, one check every 30 s, within one invocation.
    assert output["bake"]["status"] == "passed" and output["bake"]["invocations"] == 1
    assert output["bake"]["checks"] == 11
    finished = output["rollout"]["finished_at"]

    assert datetime.fromisoformat(finished).timestamp() - done_at[0] <= 10
    assert (
        datetime.fromisoformat(output["up"]["finished_at"]) - datetime.fromisoformat(finished)
    ).total_seconds() == 15
    assert output["result"]["outcome"] == "succeeded"


def test_with_the_bake_and_the_run_wait_off_a_deployment_takes_13_transitions(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BakeMinutes 0 and no Gatling API token: the Choice states skip both optional steps, so the
    deployment costs what it did before they existed."""
    monkeypatch.setenv("BAKE_MINUTES", "0")
    reset_settings()
    run.ecs.script = [lambda ecs: None, lambda ecs: ecs.complete()]
    result = run.execute(run.upload(fakes.VALID_CONFIG), "no-bake")
    assert result["status"] == "SUCCEEDED", result
    assert result["transitions"] == 13, result["states"]
    assert not {"Wait for load test runs", "Bake new control plane"} & set(result["states"])
    output = json.loads(result["output"])
    assert output["admission"]["bake"] is False and output["admission"]["wait_for_runs"] is False
    assert output["result"]["outcome"] == "succeeded" and output.get("bake") is None


def test_a_failed_rollout_is_rolled_back_and_ends_failed_with_a_cause(run: Run) -> None:

    # The config in the bucket once deployed: with no last good revision, the rollback pins it.
    store = RecordStore(dynamodb=run.dynamodb, table=fakes.TABLE, service=fakes.CLUSTER)
    store.mark_version(run.versions[0], status="succeeded", execution_name="exec-0")
    run.ecs.script = [
        lambda ecs: None,
        lambda ecs: ecs.fail_with_side_car(),
        lambda ecs: None,
        lambda ecs: ecs.complete(),
    ]
    result = run.execute(run.upload(fakes.VALID_CONFIG.replace(b"unit test", b"broken")), "broken")
    assert result["status"] == "FAILED", result
    assert result["error"] == "DeploymentRolledBack"
    assert "config download from S3 failed" in result["cause"]
    assert "Roll back" in result["states"] and result["states"][-1] == "Rolled back"
    rolled_back_to = run.ecs.service["taskDefinition"]
    assert (
        run.ecs.task_definitions[rolled_back_to]["containerDefinitions"][0]["command"][7] == run.versions[0]
    )


def test_an_invalid_config_is_rejected_without_touching_the_service(run: Run) -> None:

    result = run.execute(run.upload(fakes.INVALID_CONFIG), "invalid")
    assert (result["status"], result["error"]) == ("FAILED", "ConfigRejected")
    assert "line 4" in result["cause"]
    assert "update_service" not in run.ecs.calls and "register_task_definition" not in run.ecs.calls


def test_a_redelivered_upload_event_ends_quietly(run: Run) -> None:

    run.ecs.script = [lambda ecs: ecs.complete()]
    request = run.upload(fakes.VALID_CONFIG)
    assert run.execute(request, "first")["status"] == "SUCCEEDED"
    again = run.execute(request, "again")
    assert again["status"] == "SUCCEEDED"
    assert again["states"] == ["Admit deployment", "Admitted?", "Nothing to deploy"]
    assert json.loads(again["output"])["admission"]["decision"] == "duplicate"


def test_a_rollback_request_for_an_unknown_version_fails_admission(run: Run) -> None:
    result = run.execute({"version_id": "no-such-version", "reason": "roll back"}, "unknown")
    assert (result["status"], result["error"]) == ("FAILED", "AdmissionFailed")
    assert result["cause"].startswith("Admission failed with ConfigVersionNotFound: "), result["cause"]
    assert "no-such-version" in result["cause"] and "Nothing was deployed" in result["cause"]


@pytest.mark.parametrize(
    ("slow", "timeout", "error", "explained_by"),
    [
        (
            "AdmitDeploymentFunctionArn",
            "LongTaskTimeoutSeconds",
            "AdmissionFailed",
            "Explain admission error without cause",
        ),
        (
            "RecordOutcomeFunctionArn",
            "ShortTaskTimeoutSeconds",
            "RecordingFailed",
            "Explain recording error without cause",
        ),
    ],
)
def test_a_task_that_times_out_ends_the_execution_with_a_cause_to_act_on(
    run: Run, monkeypatch: pytest.MonkeyPatch, slow: str, timeout: str, error: str, explained_by: str
) -> None:
    """States.Timeout is caught with an empty Cause; the execution's cause still says what to do."""

    def too_slow(event: Any, context: Any) -> dict[str, Any]:
        time.sleep(1.5)  # real seconds: moto's interpreter times the Task out after 1
        return dict(event)

    monkeypatch.setattr(run.modules[slow], "lambda_handler", too_slow)
    machine = run.machine(f"cp-deploy-{error}", {timeout: "1"})
    # An invalid config reaches Record outcome quickly (and nothing else is slow).
    result = run.execute(run.upload(fakes.INVALID_CONFIG), "timeout", machine)
    assert (result["status"], result["error"]) == ("FAILED", error), result
    cause = result.get("cause", "")
    assert "States.Timeout" in cause and "no cause" in cause, cause
    assert WORKFLOW_LOG_GROUP in cause, "says where to look"
    assert len(cause.split()) >= 20, cause
    assert explained_by in result["states"], result["states"]
