"""The one Logger and Metrics every handler shares (Powertools), and the workflow's metrics."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "control-plane-autopilot"
METRICS_NAMESPACE = "ControlPlaneAutopilot"

logger = Logger(service=SERVICE)
# The workflow's data points each carry their own dimension value, so they go out through
# `single_metric` (flushed at once); `metrics` serves handlers that batch one set of dimensions.
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


def count_deployment(outcome: str) -> None:
    """One `Deployments` data point with an `outcome` dimension (succeeded, rolled_back, duplicate ...)."""
    with single_metric(
        name="Deployments", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
    ) as metric:
        metric.add_dimension(name="outcome", value=outcome)


def record_phase_durations(durations: Mapping[str, float]) -> None:
    """`PhaseSeconds` with a `phase` dimension, one data point per phase of a finished deployment."""
    for phase, seconds in durations.items():
        with single_metric(
            name="PhaseSeconds", unit=MetricUnit.Seconds, value=seconds, namespace=METRICS_NAMESPACE
        ) as metric:
            metric.add_dimension(name="phase", value=phase)


def correlate(execution_id: str, execution_name: str, version_id: str | None) -> None:
    """Tie every log line of this invocation to the Step Functions execution and the config version."""
    logger.set_correlation_id(execution_id)
    logger.append_keys(execution=execution_name, config_version=version_id)
