"""`make_provider` and `prices_from`: which setting feeds which provider, and what prices apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from fondation.config import Settings
from fondation.providers.anthropic_api import AnthropicProvider
from fondation.providers.base import DEFAULT_PRICES
from fondation.providers.claude_cli import ClaudeCliProvider
from fondation.providers.factory import make_provider, prices_from
from fondation.providers.openai_api import OpenAIProvider


def settings(**overrides: object) -> Settings:
    fields: dict[str, object] = {
        "model": "",
        "claude_oauth_token": None,
        "anthropic_api_key": None,
        "anthropic_base_url": "",
        "openai_api_key": None,
        "openai_base_url": "",
        "llm_prices": "",
    }
    return Settings(_env_file=None, **{**fields, **overrides})  # type: ignore[call-arg]


def test_prices_are_the_published_ones_with_the_settings_on_top() -> None:
    prices = prices_from(settings(llm_prices="gpt-4o=1/2, my-local=0.1/0.2"))
    assert prices.per_million["gpt-4o"] == (1.0, 2.0)
    assert prices.per_million["my-local"] == (0.1, 0.2)
    assert prices.per_million["claude-sonnet-4-5"] == DEFAULT_PRICES["claude-sonnet-4-5"]
    assert prices.cost("unknown-model", 1000, 1000) == 0.0


def test_the_claude_cli_takes_its_settings_and_a_repository(tmp_path: Path) -> None:
    chosen = settings(
        claude_command="/opt/claude",
        claude_config_dir=tmp_path / "creds",
        claude_max_turns=7,
        claude_oauth_token="fondation-claude-token-1",
        anthropic_api_key="fondation-anthropic-key-2",
        anthropic_base_url="http://gateway.test",
        model="claude-opus-4-1",
    )
    provider = make_provider("claude-cli", chosen, cwd=tmp_path)
    assert isinstance(provider, ClaudeCliProvider)
    assert (provider.name, provider.model, provider.cwd) == ("claude-cli", "claude-opus-4-1", tmp_path)
    options = provider.options
    assert (options.command, options.config_dir, options.max_turns) == ("/opt/claude", tmp_path / "creds", 7)
    assert (options.oauth_token, options.api_key, options.base_url) == (
        "fondation-claude-token-1",
        "fondation-anthropic-key-2",
        "http://gateway.test",
    )
    env = provider.environment(tmp_path / "home")
    assert env["CLAUDE_CODE_OAUTH_TOKEN"] == "fondation-claude-token-1"
    assert "ANTHROPIC_API_KEY" not in env, "a subscription token is used rather than billing the API key"


def test_the_sdk_providers_take_their_keys_urls_and_the_model_override() -> None:
    chosen = settings(
        model="from-settings",
        anthropic_api_key="fondation-anthropic-key-2",
        openai_base_url="http://127.0.0.1:8080/v1",
        llm_prices="local=1/1",
    )
    anthropic = make_provider("anthropic", chosen)
    assert isinstance(anthropic, AnthropicProvider)
    assert (anthropic.model, anthropic.base_url) == ("from-settings", "https://api.anthropic.com")
    openai = make_provider("openai", chosen, model="local")
    assert isinstance(openai, OpenAIProvider)
    assert (openai.model, openai.base_url) == ("local", "http://127.0.0.1:8080/v1")


def test_empty_models_mean_each_providers_default() -> None:
    assert make_provider("anthropic", settings()).model == "claude-sonnet-4-5"
    assert make_provider("openai", settings()).model == "gpt-4o-mini"


@pytest.mark.parametrize("name", ["offline", "bedrock"])
def test_offline_and_unknown_names_are_no_provider(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make_provider(name, settings())
