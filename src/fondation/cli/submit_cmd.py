"""`fondation submit`: queue a course generation for a source."""

from __future__ import annotations

from typing import Annotated

import typer

from fondation.cli.common import JsonOption, RefOption, SourceArgument, cli_actor, open_queue
from fondation.cli.generation_args import (
    BudgetOption,
    LanguageOption,
    MaxChaptersOption,
    MaxTokensOption,
    ModelOption,
    ParallelOption,
    ProviderOption,
    generation_options,
)
from fondation.cli.output import print_json, say, status_text
from fondation.config import load_settings
from fondation.sources import validate_ref
from fondation.sources.acquire import parse_configured

#: The range of the integer columns that store these values.
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def submit(
    source: SourceArgument,
    ref: RefOption = None,
    language: LanguageOption = "en",
    max_chapters: MaxChaptersOption = 10,
    provider: ProviderOption = None,
    model: ModelOption = None,
    parallel: ParallelOption = None,
    budget_usd: BudgetOption = None,
    max_tokens: MaxTokensOption = None,
    priority: Annotated[int, typer.Option(min=_INT32_MIN, max=_INT32_MAX, help="Higher runs first.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Queue a new job even if one is already active for this source.")
    ] = False,
    max_attempts: Annotated[
        int | None,
        typer.Option(min=1, max=_INT32_MAX, help="Attempts before the job is dead (default: FONDATION_MAX_ATTEMPTS)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Queue a course generation for SOURCE, unless one is already active for it (see --force)."""
    settings = load_settings()
    options = generation_options(
        settings,
        language=language,
        max_chapters=max_chapters,
        provider=provider,
        model=model,
        parallel=parallel,
        budget_usd=budget_usd,
        max_tokens=max_tokens,
    )
    spec = parse_configured(source, settings)
    checked_ref = None if ref is None else validate_ref(ref)
    with open_queue(settings) as queue:
        result = queue.enqueue(
            spec,
            ref=checked_ref,
            options=options.to_dict(),
            priority=priority,
            max_attempts=max_attempts,
            force=force,
            actor=cli_actor(),
        )
    if as_json:
        print_json(result)
        return
    job = result.job
    at_ref = f" at {job.ref}" if job.ref else ""
    if result.created:
        say(f"job {job.id} queued for {job.source}{at_ref}")
    else:
        say(
            f"job {job.id} is already active (",
            status_text(job.status),
            f") for {job.source}{at_ref}; use --force to queue another",
        )
