"""The handlers' event parsing: the Lambda event validated into the step's input model, nothing more.

Powertools' `event_parser` does the same, but importing its package builds the models of every AWS
event source it knows, which doubled a handler's cold start; this is all the handlers use of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)
Result = TypeVar("Result")


def parse_event(
    model: type[Model],
) -> Callable[[Callable[[Model, Any], Result]], Callable[[Any, Any], Result]]:
    """Decorate `handler(event: model, context)`: the raw event is validated into `model` first
    (pydantic's ValidationError when it does not fit, as Powertools' parser raises)."""

    def decorate(handler: Callable[[Model, Any], Result]) -> Callable[[Any, Any], Result]:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Result:
            parsed = (
                model.model_validate_json(event) if isinstance(event, str) else model.model_validate(event)
            )
            return handler(parsed, context)

        return wrapper

    return decorate
