"""The handlers' event parsing: the Lambda event validated into the step's input model, nothing more.

Powertools' `event_parser` does the same, but importing its package builds the models of every AWS
event source it knows, which doubled a handler's cold start; this is all the handlers use of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from controlplane.codec import parse

Model = TypeVar("Model", bound=msgspec.Struct)
Result = TypeVar("Result")


def parse_event(
    model: type[Model],
) -> Callable[[Callable[[Model, Any], Result]], Callable[[Any, Any], Result]]:
    """Decorate `handler(event: model, context)`: the raw event is validated into `model` first
    (msgspec's ValidationError, naming the field, when it does not fit: the execution fails on it)."""

    def decorate(handler: Callable[[Model, Any], Result]) -> Callable[[Any, Any], Result]:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Result:
            return handler(parse(model, event), context)

        return wrapper

    return decorate
