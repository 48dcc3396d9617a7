"""Build the code map of a checked-out repository: scan, analyse, resolve, rank — no LLM, no network.

One pass reads each file once: the analyser gets its bytes, test files keep only their identifiers,
manifests and the README keep their text, and the rest is dropped, so memory grows with the number
of symbols, not with the size of the code base.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from fondation.codemap.entry_points import entry_points, go_module_path, is_manifest
from fondation.codemap.exercise import exercise_links, identifiers
from fondation.codemap.languages.base import RepoIndex
from fondation.codemap.languages.registry import LANGUAGES
from fondation.codemap.model import CodeMap, Dependency, FileAnalysis, FileEntry, LanguageShare
from fondation.codemap.ranks import page_rank
from fondation.codemap.readme import find_readme, readme_sections
from fondation.codemap.scan import ScannedFile, ScanReport, scan
from fondation.domain.errors import ClassifiedError
from fondation.domain.jobs import ErrorKind

DEFAULT_MAX_FILE_BYTES = 1024 * 1024
DEFAULT_MAX_FILES = 50_000

_TOP_NAME = re.compile(r"[./:\\]+|::")

#: Called with the number of files analysed so far, so a long map can show progress.
Progress = Callable[[int], None]


def build_code_map(
    root: Path,
    *,
    name: str,
    commit: str | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    progress: Progress | None = None,
) -> CodeMap:
    """The code map of the tree under `root`; raises `ClassifiedError` (permanent) above `max_files`."""
    report = ScanReport()
    listed: dict[str, ScannedFile] = {}
    analyses: dict[str, FileAnalysis] = {}
    mentioned: dict[str, frozenset[str]] = {}
    kept_text: dict[str, bytes] = {}
    for file in scan(root, max_file_bytes=max_file_bytes, report=report):
        if len(listed) >= max_files:
            raise ClassifiedError(
                ErrorKind.PERMANENT, f"repository has more than {max_files:,} files to analyse, limit {max_files:,}"
            )
        listed[file.path] = _without_text(file)
        if file.text is None:
            continue
        support = LANGUAGES.get(file.language)
        if support is not None:
            analyses[file.path] = support.analyse(file.text)
        if file.test:
            mentioned[file.path] = identifiers(file.text)
        if is_manifest(file.path) or ("/" not in file.path and file.path.lower().startswith("readme")):
            kept_text[file.path] = file.text
        if progress is not None and len(listed) % 200 == 0:
            progress(len(listed))

    go_mod = kept_text.get("go.mod")
    index = RepoIndex.build(
        {path: file.language for path, file in listed.items()},
        analyses,
        go_module_path(go_mod) if go_mod else None,
    )
    external: set[str] = set()
    import_lines = _resolve_imports(index, external)
    imports = {path: tuple(sorted(lines)) for path, lines in import_lines.items()}
    entries = {
        path: _entry(file, analyses.get(path), imports.get(path, ()), max_file_bytes) for path, file in listed.items()
    }
    code_sizes = {path: file.lines for path, file in listed.items() if path in analyses and not file.test}
    readme = find_readme(list(listed))
    return CodeMap(
        name=name,
        commit=commit,
        files=tuple(entries[path] for path in sorted(entries)),
        dependencies=tuple(
            Dependency(path, target, lines[target]) for path, lines in import_lines.items() for target in sorted(lines)
        ),
        ranks=page_rank(code_sizes, ((source, target) for source in code_sizes for target in imports.get(source, ()))),
        entry_points=tuple(
            point
            for point in entry_points(kept_text, analyses, index.python_modules, index.paths)
            if not listed[point.path].test
        ),
        tests=exercise_links(entries, imports, _same_package(index, mentioned), mentioned),
        readme=readme_sections(kept_text[readme].decode("utf-8", "replace")) if readme in kept_text else (),
        languages=_languages(listed),
        excluded=dict(sorted(report.excluded.items())),
        external=tuple(sorted(external)),
    )


def _without_text(file: ScannedFile) -> ScannedFile:
    return ScannedFile(file.path, file.language, file.size, file.lines, file.test, None)


def _resolve_imports(index: RepoIndex, external: set[str]) -> dict[str, dict[str, int]]:
    """Each analysed file's imports as repository files (without itself), with the first line naming each.

    Imports that name no file of the repository add their top-level name to `external`.
    """
    resolved: dict[str, dict[str, int]] = {}
    for path in sorted(index.analyses):
        support = LANGUAGES[index.languages[path]]
        first_line: dict[str, int] = {}
        for imported in index.analyses[path].imports:
            targets = support.resolve(imported, path, index)
            if not targets and imported.level == 0 and not imported.target.startswith("."):
                top = _TOP_NAME.split(imported.target, 1)[0]
                if top:
                    external.add(top)
            for target in targets:
                if target != path and (target not in first_line or imported.line < first_line[target]):
                    first_line[target] = imported.line
        resolved[path] = first_line
    return resolved


def _same_package(index: RepoIndex, mentioned: dict[str, frozenset[str]]) -> dict[str, tuple[str, ...]]:
    """For each test file, the other files of its declared package (Go, Java, Kotlin, C# tests import none)."""
    found = {}
    for path in mentioned:
        analysis = index.analyses.get(path)
        if analysis is not None and analysis.package:
            members = index.packages.get((index.languages[path], analysis.package), ())
            found[path] = tuple(member for member in members if member != path)
    return found


def _entry(
    file: ScannedFile, analysis: FileAnalysis | None, imports: tuple[str, ...], max_file_bytes: int
) -> FileEntry:
    skipped = None
    if file.size > max_file_bytes:
        skipped = f"larger than {max_file_bytes // 1024:,} KB: listed, not analysed"
    elif analysis is not None and analysis.error:
        skipped = analysis.error
    return FileEntry(
        path=file.path,
        language=file.language,
        lines=file.lines,
        size=file.size,
        test=file.test,
        symbols=analysis.symbols if analysis is not None else (),
        imports=imports,
        package=analysis.package if analysis is not None else None,
        skipped=skipped,
        doc=analysis.doc if analysis is not None else "",
    )


def _languages(listed: dict[str, ScannedFile]) -> tuple[LanguageShare, ...]:
    files: dict[str, int] = {}
    lines: dict[str, int] = {}
    for file in listed.values():
        files[file.language] = files.get(file.language, 0) + 1
        lines[file.language] = lines.get(file.language, 0) + file.lines
    shares = [LanguageShare(language, files[language], lines[language]) for language in files]
    return tuple(sorted(shares, key=lambda share: (-share.lines, share.language)))
