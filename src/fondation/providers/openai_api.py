"""Any OpenAI-compatible chat completions server through the `openai` SDK: OpenAI itself, llama.cpp, vLLM...

The SDK's own retries are off (`max_retries=0`): retries are `fondation.providers.retry`'s. A JSON schema
goes to `response_format` (`json_schema`); a server without it (it answers 400 naming the parameter) is
asked again without it, once for the provider's lifetime. Local servers often report no usage: it is then
estimated from the text's length (four characters a token), so budgets still count something.
"""

from __future__ import annotations

import re
from typing import Any

import openai

from fondation.domain.jobs import ErrorKind
from fondation.providers.base import Completion, Prices, ProviderError, Readiness, Request, Usage
from fondation.providers.errors import SdkErrors, error_from_sdk, masked
from fondation.providers.outgoing import FormatFallback, is_unsupported_feature, prompt_with_schema, step_headers

DEFAULT_MODEL = "gpt-4o-mini"
OFFICIAL_BASE_URL = "https://api.openai.com/v1"
#: What the SDK sends as a key to a server that needs none (it insists on sending one).
PLACEHOLDER_KEY = "not-needed"
READY_TIMEOUT_SECONDS = 5.0

_SDK_ERRORS = SdkErrors(
    status=openai.APIStatusError, timeout=openai.APITimeoutError, connection=openai.APIConnectionError
)
_FORMAT_PARAMETERS = ("response_format", "json_schema")


def estimate_tokens(text: str) -> int:
    """About four characters a token: the usual rule of thumb for English text and code."""
    return (len(text) + 3) // 4


class OpenAIProvider:
    """A chat model behind the OpenAI chat completions API."""

    name = "openai"

    def __init__(self, *, base_url: str = "", api_key: str = "", model: str = DEFAULT_MODEL, prices: Prices) -> None:
        self.model = model or DEFAULT_MODEL
        self.base_url = (base_url or OFFICIAL_BASE_URL).rstrip("/")
        self._api_key = api_key
        self._prices = prices
        self._format = FormatFallback()
        self._client = openai.OpenAI(api_key=api_key or PLACEHOLDER_KEY, base_url=self.base_url, max_retries=0)

    @property
    def _official(self) -> bool:
        return self.base_url == OFFICIAL_BASE_URL

    def complete(self, request: Request) -> Completion:
        if self._official and not self._api_key:
            raise ProviderError(ErrorKind.AUTH, "no API key for api.openai.com: set FONDATION_OPENAI_API_KEY")
        try:
            return self._format.run(request, lambda use_format: self._send(request, use_format), self._refuses_format)
        except ProviderError:
            raise
        except Exception as exc:
            raise error_from_sdk(
                exc,
                _SDK_ERRORS,
                what=f"OpenAI-compatible server {self.base_url} ({self.model})",
                timeout_seconds=request.timeout_seconds,
                secrets=[self._api_key],
            ) from None

    def check_ready(self) -> Readiness:
        """The official API: a key is set. Any other server: it lists its models within a few seconds."""
        if self._official:
            if not self._api_key:
                return Readiness(False, "no API key for api.openai.com: set FONDATION_OPENAI_API_KEY")
            return Readiness(True, f"API key set, model {self.model} at {self.base_url}")
        try:
            models = self._client.models.list(timeout=READY_TIMEOUT_SECONDS)
        except Exception as exc:
            error = error_from_sdk(
                exc,
                _SDK_ERRORS,
                what=f"{self.base_url}/models",
                timeout_seconds=READY_TIMEOUT_SECONDS,
                secrets=[self._api_key],
            )
            return Readiness(False, error.message)
        names = ", ".join(model.id for model in models.data[:5]) or "none listed"
        return Readiness(True, f"{self.base_url} answers (models: {names}); calls use model {self.model}")

    def _send(self, request: Request, use_format: bool) -> Completion:
        extra: dict[str, Any] = {}
        if use_format and request.json_schema is not None:
            name = re.sub(r"[^A-Za-z0-9_-]", "_", request.step)[:64] or "answer"
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": request.json_schema},
            }
        prompt = prompt_with_schema(request)
        response = self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": request.system}, {"role": "user", "content": prompt}],
            max_tokens=request.max_tokens,
            timeout=request.timeout_seconds,
            extra_headers=step_headers(request),
            **extra,
        )
        if not response.choices:
            raise ProviderError(
                ErrorKind.PERMANENT, masked(f"{self.base_url}: an answer without choices", [self._api_key])
            )
        text = response.choices[0].message.content or ""
        if response.usage is not None:
            input_tokens, output_tokens = response.usage.prompt_tokens, response.usage.completion_tokens
        else:
            input_tokens, output_tokens = estimate_tokens(request.system + prompt), estimate_tokens(text)
        cost = self._prices.cost(self.model, input_tokens, output_tokens)
        return Completion(text, Usage(input_tokens, output_tokens, cost), response.model or self.model)

    @staticmethod
    def _refuses_format(exc: Exception) -> bool:
        return isinstance(exc, openai.APIStatusError) and is_unsupported_feature(
            exc.status_code, str(exc), _FORMAT_PARAMETERS
        )
