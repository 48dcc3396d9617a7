"""`fondation map`: fetch a source and show what the generator will know of it — no LLM, no database."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fondation.cli.common import JsonOption
from fondation.cli.output import console, say
from fondation.config import load_settings
from fondation.sources import parse_source, validate_ref

if TYPE_CHECKING:
    from fondation.codemap.model import CodeMap

_TOP = 10


def map_command(
    source: Annotated[
        str,
        typer.Argument(
            help="A git URL, a GitHub owner/repo, or a local directory or .tar.gz/.tgz/.zip archive.",
            show_default=False,
        ),
    ],
    ref: Annotated[str | None, typer.Option(help="Branch, tag or commit to map (default: the default branch).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the code map's JSON to this file instead of printing a summary.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Build the code map of SOURCE: files, symbols, imports, ranks, entry points, tests, README."""
    # Imported here: the analysers load every tree-sitter grammar, which other commands never need.
    from fondation.codemap.build import build_code_map
    from fondation.sources.acquire import SourceOptions, acquire

    settings = load_settings()
    spec = parse_source(source, allow_local=settings.allow_local_sources, github_host=settings.github_host)
    checked_ref = None if ref is None else validate_ref(ref)
    with tempfile.TemporaryDirectory(prefix="fondation-map-") as work:
        checkout = acquire(spec, ref=checked_ref, work_dir=Path(work), options=SourceOptions.from_settings(settings))
        code_map = build_code_map(
            checkout.root,
            name=spec.name,
            commit=checkout.commit,
            max_file_bytes=settings.max_file_kb * 1024,
            max_files=settings.max_files,
        )
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
