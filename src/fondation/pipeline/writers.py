"""Choosing the writer for a generation: offline, or an LLM provider with its ledger."""

from __future__ import annotations

import time
from pathlib import Path

from fondation.config import Settings
from fondation.pipeline.llm.ledger import Ledger, UsageCallback
from fondation.pipeline.model import GenerationOptions
from fondation.pipeline.offline.writer import OfflineWriter
from fondation.pipeline.workspace import Workspace
from fondation.pipeline.writer import CourseWriter


def make_writer(
    workspace: Workspace,
    options: GenerationOptions,
    settings: Settings,
    *,
    cwd: Path,
    on_usage: UsageCallback | None = None,
) -> tuple[CourseWriter, Ledger | None]:
    """The offline writer, or an LLM writer over the configured provider (run in `cwd`, the checkout)."""
    if options.provider == "offline":
        return OfflineWriter(workspace, options), None
    # Imported here: the LLM writer and the SDKs load only for a generation that uses them.
    from fondation.pipeline.llm.writer import LlmWriter
    from fondation.providers.factory import make_provider, prices_from

    provider = make_provider(options.provider, settings, model=options.model or None, cwd=cwd)
    ledger = Ledger(
        provider=options.provider,
        model=provider.model,
        prices=prices_from(settings),
        budget_usd=options.budget_usd,
        max_tokens=options.max_tokens,
        on_usage=on_usage,
    )
    writer = LlmWriter(
        workspace,
        options,
        provider,
        ledger,
        call_timeout_seconds=settings.llm_call_timeout_seconds,
        deadline=time.monotonic() + settings.job_timeout_seconds,
        context_tokens=settings.llm_context_tokens,
        max_output_tokens=settings.llm_max_output_tokens,
    )
    return writer, ledger
