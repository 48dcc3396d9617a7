"""Providers by name, built from the settings: the one place that knows which setting feeds which provider."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from fondation.config import Settings
from fondation.providers.anthropic_api import AnthropicProvider
from fondation.providers.base import DEFAULT_PRICES, Prices, Provider
from fondation.providers.claude_cli import ClaudeCliOptions, ClaudeCliProvider
from fondation.providers.openai_api import OpenAIProvider


def prices_from(settings: Settings) -> Prices:
    """The published prices, with `FONDATION_LLM_PRICES` adding models or overriding them."""
    return Prices({**DEFAULT_PRICES, **Prices.parse(settings.llm_prices).per_million})


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def make_provider(name: str, settings: Settings, *, model: str | None = None, cwd: Path | None = None) -> Provider:
    """A provider for `name`; `model` overrides the settings' model, `cwd` is the repository the CLI reads.

    `offline` writes courses without any LLM, so it is no provider: asking for it here is a mistake.
    """
    chosen = settings.model if model is None else model
    if name == "claude-cli":
        options = ClaudeCliOptions(
            command=settings.claude_command,
            config_dir=settings.claude_config_dir,
            max_turns=settings.claude_max_turns,
            model=chosen,
            oauth_token=_secret(settings.claude_oauth_token) or None,
            api_key=_secret(settings.anthropic_api_key) or None,
            base_url=settings.anthropic_base_url,
        )
        return ClaudeCliProvider(options, cwd=cwd)
    if name == "anthropic":
        return AnthropicProvider(
            api_key=_secret(settings.anthropic_api_key),
            model=chosen,
            base_url=settings.anthropic_base_url,
            prices=prices_from(settings),
        )
    if name == "openai":
        return OpenAIProvider(
            base_url=settings.openai_base_url,
            api_key=_secret(settings.openai_api_key),
            model=chosen,
            prices=prices_from(settings),
        )
    if name == "offline":
        raise ValueError("the offline generator is no LLM provider: run the offline pipeline instead")
    raise ValueError(f"unknown provider {name!r}: expected one of claude-cli, anthropic, openai")
