"""What every provider puts on the wire besides the prompt: the step header, and structured output.

Each call names its pipeline step in an `X-Fondation-Step` header, for a gateway's usage logs and for the
test servers that script replies per step.

A request with a `json_schema` asks the protocol's structured-output feature for it where the server has
one, and says so in the prompt anyway, so a server that ignores the feature still knows what to answer.
A server that answers a valid request with an unsupported-feature error is not an outage: the provider
drops the feature once, remembers that for its lifetime, and asks again without it, instead of retrying
the same refused request until the job's deadline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TypeVar

from fondation.providers.base import Request

T = TypeVar("T")

_UNSUPPORTED = re.compile(r"unsupported|not support|unknown (?:field|parameter)|not permitted", re.IGNORECASE)

#: The header naming the pipeline step of a call.
STEP_HEADER = "X-Fondation-Step"


def step_headers(request: Request) -> dict[str, str]:
    """The step header of a call, its value cut to printable ASCII so no step name can break the header."""
    return {STEP_HEADER: re.sub(r"[^\x20-\x7e]", "_", request.step)[:200]}


def prompt_with_schema(request: Request) -> str:
    """The prompt, followed by the JSON Schema the answer must match when the request has one."""
    if request.json_schema is None:
        return request.prompt
    schema = json.dumps(request.json_schema, indent=2, sort_keys=True)
    return (
        f"{request.prompt}\n\nAnswer with a single JSON document, and nothing else, "
        f"that matches this JSON Schema:\n```json\n{schema}\n```"
    )


def is_unsupported_feature(status: int, message: str, parameters: tuple[str, ...]) -> bool:
    """Whether an error refuses the structured-output parameter itself (not the prompt, not the credential)."""
    if status not in (400, 422):
        return False
    lowered = message.lower()
    return any(name in lowered for name in parameters) or bool(_UNSUPPORTED.search(message))


class FormatFallback:
    """Whether this server takes the structured-output parameter; learnt once, kept for the provider's life."""

    def __init__(self) -> None:
        self._supported = True

    def run(self, request: Request, send: Callable[[bool], T], refused: Callable[[Exception], bool]) -> T:
        """`send(use_format)`; when the format is refused, once more without it, and never with it again."""
        use_format = request.json_schema is not None and self._supported
        try:
            return send(use_format)
        except Exception as exc:
            if not (use_format and refused(exc)):
                raise
        self._supported = False
        return send(False)
