"""Scenario 10: an operator rolls back to an older config version by hand.

The workflow started with {"version_id", "reason"} deploys exactly that version; the control plane
then running serves that config's locations (and not the newer ones).
"""

from __future__ import annotations

import re

from cpctl.twin.twin import LocalTwin, builtin_config

from .conftest import WALL_TIMEOUT, Baseline, changed_config, deploy, deployment_record, sha256

DEPLOYED = re.compile(r"Private location '(prl_[0-9a-z_]+)' deployed")


def served_locations(twin: LocalTwin) -> list[str]:
    """The locations the control plane of the service's RUNNING task deployed, from its own log."""
    ecs, logs = twin.client("ecs"), twin.client("logs")
    arns = ecs.list_tasks(cluster=twin.cluster, serviceName=twin.service_name, desiredStatus="RUNNING")[
        "taskArns"
    ]
    tasks = [
        t
        for t in ecs.describe_tasks(cluster=twin.cluster, tasks=arns)["tasks"]
        if t["lastStatus"] == "RUNNING"
    ]
    assert len(tasks) == 1, [t["lastStatus"] for t in tasks]
    task_id = tasks[0]["taskArn"].rsplit("/", 1)[-1]
    group = str(twin.stack.outputs["LogGroupName"]) if twin.stack else ""
    events = logs.get_log_events(logGroupName=group, logStreamName=f"control-plane/control-plane/{task_id}")[
        "events"
    ]
    return sorted(
        match.group(1) for event in events for match in [DEPLOYED.search(event["message"])] if match
    )


def test_a_manual_rollback_serves_the_older_configs_locations(twin: LocalTwin, baseline: Baseline) -> None:
    newer = deploy(twin, changed_config())
    assert newer.report.status == "SUCCEEDED"
    assert served_locations(twin) == ["prl_twin_eu_central_1", "prl_twin_eu_west_1"]

    arn = twin.start_manual({"version_id": baseline.version_id, "reason": "roll back to the initial config"})
    report = twin.wait_for_execution(arn, wall_timeout=WALL_TIMEOUT)

    assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
    service = twin.service()
    assert service.config_version_id == baseline.version_id
    assert service.config_sha256 == sha256(builtin_config("initial"))
    assert service.task_definition != newer.service.task_definition
    assert served_locations(twin) == ["prl_twin_eu_west_1"]
    record = deployment_record(twin, report.name)
    assert record["outcome"] == "succeeded" and record["source"] == "manual"
    assert record["reason"] == "roll back to the initial config"
