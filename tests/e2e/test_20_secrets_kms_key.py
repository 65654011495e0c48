"""Scenario 20: token secrets encrypted with a customer managed KMS key (`SecretsKmsKeyArn`).

Secrets Manager decrypts a secret's value with the caller's own `kms:Decrypt` on its key when that
key is customer managed (Secrets Manager User Guide, "Secret encryption and decryption in AWS
Secrets Manager", "Permissions for the KMS key"). So every reader needs the grant: the task's
execution role (the control plane token, injected at start) and each function that reads the
Gatling API token (the up-check, the load test wait, the bake, the health check). The twin asks IAM
for both actions on every read (cpctl/twin/iam_calls.py, `secret_checks`).
"""

from __future__ import annotations

from cpctl.twin.deployments import deploy_initial
from cpctl.twin.health_scenario import HealthWatch
from cpctl.twin.twin import LocalTwin, TwinOptions

from .conftest import WALL_TIMEOUT, changed_config, deploy, deployment_record


def test_secrets_under_a_customer_managed_key_are_read_by_every_reader() -> None:
    with LocalTwin(TwinOptions(secrets_kms_key=True)) as twin:
        deploy_initial(twin, wall_timeout=WALL_TIMEOUT)
        result = deploy(twin, changed_config())
        assert result.report.status == "SUCCEEDED", f"{result.report.error}: {result.report.cause}"
        output = result.report.output
        up = (output if isinstance(output, dict) else {}).get("up") or {}
        assert up.get("locations_checked"), f"the up-check could not read the Gatling API token: {up}"
        assert deployment_record(twin, result.report.name)["outcome"] == "succeeded"
        watch = HealthWatch.attach(twin)
        try:
            run = watch.run_check()
        finally:
            watch.close()
        assert run.error is None and run.failed == [], run.result

        assert twin.authorizer is not None
        denied = [(r.function, r.operation) for r in twin.authorizer.records if r.decision.value != "allow"]
        assert denied == [], f"calls denied by the functions' roles: {denied}"
        decrypting = {
            r.function
            for r in twin.authorizer.records
            if r.operation == "secretsmanager:GetSecretValue"
            for action, _, _ in r.checks
            if action == "kms:Decrypt"
        }
        assert {"AwaitControlPlaneUpFunction", "HealthCheckFunction"} <= decrypting, decrypting
