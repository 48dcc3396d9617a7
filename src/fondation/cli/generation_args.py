"""The options of a generation, shared by `fondation generate` and `fondation submit`.

Unset options fall back to the configuration (`FONDATION_PROVIDER`, `FONDATION_MODEL`,
`FONDATION_LLM_PARALLEL`, `FONDATION_BUDGET_USD`, `FONDATION_MAX_TOKENS`), so a worker fleet's
defaults live in one place and a command line only says what differs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fondation.config import Settings
from fondation.domain.errors import ConfigError
from fondation.pipeline.model import GenerationOptions

LanguageOption = Annotated[str, typer.Option(help="Language of the course: en or fr.")]
MaxChaptersOption = Annotated[int, typer.Option(min=1, max=50, help="At most this many chapters.")]
ProviderOption = Annotated[
    str | None,
    typer.Option(help="Who writes the course: offline (no LLM), claude-cli, anthropic, openai [FONDATION_PROVIDER]."),
]
ModelOption = Annotated[str | None, typer.Option(help="The model, for an LLM provider [FONDATION_MODEL].")]
ParallelOption = Annotated[
    int | None, typer.Option(min=1, max=32, help="LLM calls at once for chapters, reviews, tutorials [4].")
]
BudgetOption = Annotated[
    float | None, typer.Option("--budget-usd", min=0, help="Stop (kind budget) before spending more dollars.")
]
MaxTokensOption = Annotated[
    int | None, typer.Option("--max-tokens", min=0, help="Stop (kind budget) before using more tokens.")
]


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
