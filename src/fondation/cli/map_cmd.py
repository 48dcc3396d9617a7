"""`fondation map`: fetch a source and show what the generator will know of it — no LLM, no database."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fondation.cli.common import JsonOption, RefOption, SourceArgument
from fondation.cli.output import console, say
from fondation.config import load_settings
from fondation.sources import validate_ref
from fondation.sources.acquire import parse_configured

if TYPE_CHECKING:
    from fondation.codemap.model import CodeMap

_TOP = 10


def map_command(
    source: SourceArgument,
    ref: RefOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the code map's JSON to this file instead of printing a summary.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Build the code map of SOURCE: files, symbols, imports, ranks, entry points, tests, README."""
    # Imported here: the analysers load every tree-sitter grammar, which other commands never need.
    from fondation.pipeline.run import fetch_and_map

    settings = load_settings()
    spec = parse_configured(source, settings)
    checked_ref = None if ref is None else validate_ref(ref)
    with tempfile.TemporaryDirectory(prefix="fondation-map-") as work:
        _, code_map = fetch_and_map(spec, ref=checked_ref, settings=settings, work_dir=Path(work))
    if out is not None:
        out.write_text(code_map.to_json(), encoding="utf-8")
        say(f"code map of {spec.name} written to {out} ({len(code_map.files):,} files)")
    elif as_json:
        typer.echo(code_map.to_json(), nl=False)
    else:
        _print_summary(code_map)


def _print_summary(code_map: CodeMap) -> None:
    lines = sum(entry.lines for entry in code_map.files)
    symbols = sum(len(entry.symbols) for entry in code_map.files)
    commit = f" at {code_map.commit[:12]}" if code_map.commit else ""
    say(f"{code_map.name}{commit}: {len(code_map.files):,} files, {lines:,} lines, {symbols:,} symbols")
    languages = ", ".join(f"{share.language} {share.lines:,}" for share in code_map.languages[:6])
    say(f"languages (lines): {languages}")
    if code_map.excluded:
        say("left out: " + ", ".join(f"{count:,} {reason}" for reason, count in code_map.excluded.items()))
    table = Table(title=f"Top {_TOP} files by rank", title_justify="left")
    for column in ("rank", "file", "lines", "symbols", "imported by"):
        table.add_column(column, justify="right" if column != "file" else "left")
    importers: dict[str, int] = {}
    for edge in code_map.dependencies:
        importers[edge.target] = importers.get(edge.target, 0) + 1
    ranked = sorted(code_map.ranks.items(), key=lambda item: (-item[1], item[0]))[:_TOP]
    for path, rank in ranked:
        entry = code_map.by_path[path]
        table.add_row(f"{rank:.4f}", path, f"{entry.lines:,}", str(len(entry.symbols)), str(importers.get(path, 0)))
    console.print(table)
    for point in code_map.entry_points[:_TOP]:
        say(f"entry point: {point.kind} {point.name} ({point.path}:{point.line})")
    if len(code_map.entry_points) > _TOP:
        say(f"… and {len(code_map.entry_points) - _TOP} more entry points (see --json)")
