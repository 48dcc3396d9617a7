"""Asking a model for JSON and holding it to the step's rules: parse, validate, send the error back.

A model's answer is untrusted text. It is parsed (the first JSON object in it, fences tolerated) and
validated against the code map; a rejection goes back to the model with the reason, at most
`MAX_REPAIRS` times. After that the caller uses the step's offline answer: bad output never fails a job.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from fondation.pipeline.validation import InvalidStepOutput
from fondation.providers.base import Completion, Request

T = TypeVar("T")
MAX_REPAIRS = 2
_ECHO_CHARS = 6000


def first_json_object(text: str) -> Any:
    """The first JSON object in `text` (a model may wrap it in prose or a code fence)."""
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position >= 0:
        try:
            value, _ = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            return value
        position = text.find("{", position + 1)
    raise InvalidStepOutput("the answer holds no JSON object")


def ask_json(
    call: Callable[[Request], Completion], request: Request, parse: Callable[[Any], T]
) -> tuple[T | None, str]:
    """The parsed answer, or None and why it was given up after `MAX_REPAIRS` repair requests."""
    current = request
    reason = ""
    for attempt in range(MAX_REPAIRS + 1):
        text = call(current).text
        try:
            return parse(first_json_object(text)), ""
        except (InvalidStepOutput, KeyError, TypeError, ValueError) as error:
            reason = f"{type(error).__name__}: {error}" if not isinstance(error, InvalidStepOutput) else str(error)
            if attempt == MAX_REPAIRS:
                break
            current = replace(
                request,
                prompt=(
                    f"{request.prompt}\n\nYour previous answer was:\n<<<\n{text[:_ECHO_CHARS]}\n>>>\n"
                    f"It was rejected: {reason}\nAnswer again with the corrected JSON object only."
                ),
            )
    return None, f"model answer rejected after {MAX_REPAIRS} repairs: {reason}"
