"""The options of one generation, completed from the configuration: shared by every face that submits.

Unset options fall back to the configuration (`FONDATION_PROVIDER`, `FONDATION_MODEL`,
`FONDATION_LLM_PARALLEL`, `FONDATION_BUDGET_USD`, `FONDATION_MAX_TOKENS`), so a worker fleet's
defaults live in one place and a command line or a form only says what differs.
"""

from __future__ import annotations

from fondation.config import Settings
from fondation.domain.errors import ConfigError
from fondation.pipeline.model import GenerationOptions


def generation_options(
    settings: Settings,
    *,
    language: str,
    max_chapters: int,
    provider: str | None,
    model: str | None,
    parallel: int | None,
    budget_usd: float | None,
    max_tokens: int | None,
) -> GenerationOptions:
    """The options given, completed from the configuration; a `ConfigError` names what is wrong."""
    try:
        return GenerationOptions(
            language=language,
            max_chapters=max_chapters,
            provider=provider or settings.provider,
            model=model if model is not None else settings.model,
            parallel=parallel or settings.llm_parallel,
            budget_usd=budget_usd if budget_usd is not None else settings.budget_usd,
            max_tokens=max_tokens if max_tokens is not None else settings.max_tokens_per_job,
        )
    except ValueError as error:
        raise ConfigError(str(error)) from None
