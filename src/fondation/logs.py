"""Structured logs: readable on a terminal, JSON lines for machines, secrets masked on every line.

Every line about a job carries `job_id`, `attempt` and `worker_id` (bound by the worker), so one grep
finds a job's whole story across workers.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from fondation.domain.secrets import mask_secrets


def _mask_event(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = mask_secrets(value)
    return event_dict


def configure_logging(*, fmt: str = "auto", level: str = "info") -> None:
    """Set up structlog once per process. `fmt` is `json`, `console`, or `auto` (console on a terminal)."""
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _mask_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    """A logger with `context` bound to every line it writes."""
    return structlog.get_logger().bind(**context)
