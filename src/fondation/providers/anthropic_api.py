"""The Anthropic Messages API through the `anthropic` SDK: one message in, one message out, no tools.

The SDK's own retries are off (`max_retries=0`): retries are `fondation.providers.retry`'s, which know
the job's deadline. A JSON schema goes to the API's structured output (`output_config.format`); a server
that refuses the parameter (an older model, a gateway) is asked again without it, once for the provider's
lifetime.
"""

from __future__ import annotations

from typing import Any

import anthropic

from fondation.domain.jobs import ErrorKind
from fondation.providers.base import Completion, Prices, ProviderError, Readiness, Request, Usage
from fondation.providers.errors import SdkErrors, error_from_sdk
from fondation.providers.outgoing import FormatFallback, is_unsupported_feature, prompt_with_schema, step_headers

DEFAULT_MODEL = "claude-sonnet-4-5"
DEFAULT_BASE_URL = "https://api.anthropic.com"

_SDK_ERRORS = SdkErrors(
    status=anthropic.APIStatusError, timeout=anthropic.APITimeoutError, connection=anthropic.APIConnectionError
)
_FORMAT_PARAMETERS = ("output_config", "output_format", "json_schema")


class AnthropicProvider:
    """Claude through the Messages API with an API key."""

    name = "anthropic"

    def __init__(self, *, api_key: str, model: str = DEFAULT_MODEL, base_url: str = "", prices: Prices) -> None:
        self.model = model or DEFAULT_MODEL
        self.base_url = base_url or DEFAULT_BASE_URL
        self._api_key = api_key
        self._prices = prices
        self._format = FormatFallback()
        self._client = anthropic.Anthropic(api_key=api_key, base_url=self.base_url, max_retries=0)

    def complete(self, request: Request) -> Completion:
        if not self._api_key:
            raise ProviderError(ErrorKind.AUTH, self.check_ready().detail)
        try:
            return self._format.run(request, lambda use_format: self._send(request, use_format), self._refuses_format)
        except ProviderError:
            raise
        except Exception as exc:
            raise error_from_sdk(
                exc,
                _SDK_ERRORS,
                what=f"Anthropic API ({self.model})",
                timeout_seconds=request.timeout_seconds,
                secrets=[self._api_key],
            ) from None

    def check_ready(self) -> Readiness:
        if not self._api_key:
            return Readiness(False, "no API key: set FONDATION_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY)")
        return Readiness(True, f"API key set, model {self.model} at {self.base_url}")

    def _send(self, request: Request, use_format: bool) -> Completion:
        extra: dict[str, Any] = {}
        if use_format and request.json_schema is not None:
            extra["output_config"] = {"format": {"type": "json_schema", "schema": request.json_schema}}
        message = self._client.messages.create(
            model=self.model,
            max_tokens=request.max_tokens,
            system=request.system,
            messages=[{"role": "user", "content": prompt_with_schema(request)}],
            timeout=request.timeout_seconds,
            extra_headers=step_headers(request),
            **extra,
        )
        text = "".join(block.text for block in message.content if block.type == "text")
        if message.stop_reason == "refusal":
            raise ProviderError(ErrorKind.PERMANENT, f"Anthropic API ({self.model}): the model refused to answer")
        usage = message.usage
        input_tokens = (
            usage.input_tokens + (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
        )
        cost = self._prices.cost(self.model, input_tokens, usage.output_tokens)
        return Completion(text, Usage(input_tokens, usage.output_tokens, cost), message.model or self.model)

    @staticmethod
    def _refuses_format(exc: Exception) -> bool:
        return isinstance(exc, anthropic.APIStatusError) and is_unsupported_feature(
            exc.status_code, str(exc), _FORMAT_PARAMETERS
        )
