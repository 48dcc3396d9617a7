"""The command-line options of a generation, shared by `fondation generate` and `fondation submit`.

How unset options are completed from the configuration lives in `fondation.pipeline.options`, which
the web app uses too.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fondation.pipeline.options import generation_options

__all__ = [
    "BudgetOption",
    "LanguageOption",
    "MaxChaptersOption",
    "MaxTokensOption",
    "ModelOption",
    "ParallelOption",
    "ProviderOption",
    "generation_options",
]

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
