"""The grounding gate: every claim a course makes about the repository is checked against it.

What is checked, in the markdown of every page:

- paths in inline code (`src/app/db.py`) exist in the repository (a file, or a directory of files);
- anchors (`src/app/db.py:42`, `…:10-20`) lie inside their file;
- identifiers in inline code that look like symbols (`JobQueue.claim`, `parse_source()`, `MAX_SIZE`)
  name a symbol of the repository, a builtin of its languages, or a module it imports;
- code blocks other than commands are excerpts: after whitespace normalisation they must match a
  contiguous run of lines of the file cited just before them (or of any file, when none is cited),
  with explicit elisions (`...`, `…`, `# ...`, `// ...`) allowed between matching runs;
- mermaid blocks parse (the built-in checker, held to agree with the real parser by the tests);
- relative links point at pages of the course.

`repair` degrades what failed, so a course never ships a broken diagram or a false reference: a
diagram becomes a text block with a note, a reference loses its code formatting and gets a flag, an
excerpt becomes a plain text block, a dead link becomes its text.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field
from posixpath import dirname, normpath

from fondation.pipeline.workspace import Workspace
from fondation.render.mermaid_check import check_mermaid

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+|~~~+)\s*(?P<info>[^`\n]*)$")
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)\)")
_ANCHOR = re.compile(r"^(?P<path>[\w.@+/-]+\.[\w]+|[\w.@+-]+(?:/[\w.@+-]+)+):(?P<start>\d+)(?:-(?P<end>\d+))?$")
_PATH = re.compile(
    r"^[\w.@+-]+(?:/[\w.@+-]+)+/?$|^[\w.@+-]+/$|^[\w@+-]+\.(?:py|pyi|js|mjs|cjs|jsx|ts|tsx|go|rs|java|kt|c|h|cc|cpp|hpp|cs|rb|php|md|toml|json|yaml|yml|cfg|ini|txt|sh)$"
)
_SYMBOL = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::)[A-Za-z_][A-Za-z0-9_]*)*)(?:\(\))?$")
_ELISION = re.compile(r"^(?:\.\.\.|…|#\s*(?:\.\.\.|…)|//\s*(?:\.\.\.|…)|/\*\s*(?:\.\.\.|…)\s*\*/)$")
_COMMAND_LANGUAGES = frozenset({"bash", "sh", "shell", "console", "text", "plaintext", "txt", "", "sql", "json"})
_OTHER_BUILTINS = frozenset(
    {
        "console", "Promise", "Object", "Array", "JSON", "Math", "require", "module", "exports", "process",
        "String", "Number", "Boolean", "Error", "Map", "Set", "Date", "RegExp", "Symbol", "undefined", "null",
        "this", "self", "super", "window", "document", "fmt", "make", "len", "append", "panic", "nil", "error",
        "println", "printf", "main", "std", "System", "Vec", "Option", "Result", "Some", "None", "Ok", "Err",
        "true", "false", "True", "False", "void", "int", "string", "bool", "new", "async", "await",
    }
)  # fmt: skip
_PYTHON_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True, slots=True)
class Finding:
    """One claim that did not hold: the page, the check, and what was wrong."""

    page: str
    check: str
    detail: str


@dataclass(slots=True)
class Tally:
    checked: int = 0
    passed: int = 0

    def add(self, ok: bool) -> None:
        self.checked += 1
        self.passed += ok

    @property
    def ratio(self) -> float:
        return round(self.passed / self.checked, 4) if self.checked else 1.0


CHECKS = ("paths", "anchors", "symbols", "excerpts", "mermaid", "links")


@dataclass(slots=True)
class GroundingReport:
    tallies: dict[str, Tally] = field(default_factory=lambda: {name: Tally() for name in CHECKS})
    findings: list[Finding] = field(default_factory=list)
    cited: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Block:
    language: str
    lines: list[str]
    start: int  # index of the opening fence
    end: int  # index of the closing fence
    cited: str | None  # the path cited in the paragraph just before the block


class Grounding:
    """Checks pages against one repository; `check` reports, `repair` rewrites what failed."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.paths = frozenset(entry.path for entry in workspace.code_map.files)
        self._normalised_files: dict[str, list[str]] = {}
        self.directories = frozenset(parent for path in self.paths for parent in _parents(path))

    # ------------------------------------------------------------------ checking

    def check(self, pages: dict[str, str]) -> GroundingReport:
        report = GroundingReport()
        for page, markdown in sorted(pages.items()):
            self._check_page(page, markdown, pages, report)
        return report

    def _check_page(self, page: str, markdown: str, pages: dict[str, str], report: GroundingReport) -> None:
        lines = markdown.split("\n")
        blocks = _blocks(lines)
        inside = {index for block in blocks for index in range(block.start, block.end + 1)}
        for block in blocks:
            self._check_block(page, block, report)
        for index, line in enumerate(lines):
            if index in inside:
                continue
            for span in _INLINE.findall(line):
                self._check_inline(page, span.strip(), report)
            for match in _LINK.finditer(_INLINE.sub("", line)):
                self._check_link(page, match.group("target"), pages, report)

    def _check_block(self, page: str, block: _Block, report: GroundingReport) -> None:
        if block.language == "mermaid":
            error = check_mermaid("\n".join(block.lines))
            report.tallies["mermaid"].add(error is None)
            if error is not None:
                report.findings.append(Finding(page, "mermaid", error))
        elif block.language not in _COMMAND_LANGUAGES:
            ok = self.excerpt_matches(block.lines, block.cited)
            report.tallies["excerpts"].add(ok)
            if block.cited:
                report.cited.add(block.cited)
            if not ok:
                where = f" of {block.cited}" if block.cited else ""
                report.findings.append(
                    Finding(page, "excerpts", f"code block at line {block.start + 1} is not a span{where}")
                )

    def _check_inline(self, page: str, span: str, report: GroundingReport) -> None:
        anchor = _ANCHOR.match(span)
        if anchor:
            path = anchor.group("path")
            exists = path in self.paths
            report.tallies["paths"].add(exists)
            start = int(anchor.group("start"))
            end = int(anchor.group("end") or start)
            inside = exists and 1 <= start <= end <= len(self.workspace.lines(path))
            report.tallies["anchors"].add(inside)
            if exists:
                report.cited.add(path)
            if not inside:
                report.findings.append(Finding(page, "anchors", f"{span} is not inside a repository file"))
            return
        if _PATH.match(span) and not span.startswith(("http", "www.")):
            path = span.rstrip("/")
            exists = path in self.paths or path in self.directories
            report.tallies["paths"].add(exists)
            if path in self.paths:
                report.cited.add(path)
            if not exists:
                report.findings.append(Finding(page, "paths", f"{span} does not exist in the repository"))
            return
        symbol = _SYMBOL.match(span)
        if symbol and _looks_like_symbol(span):
            ok = self.symbol_exists(symbol.group("name"))
            report.tallies["symbols"].add(ok)
            if not ok:
                report.findings.append(Finding(page, "symbols", f"{span} names no symbol of the repository"))

    def _check_link(self, page: str, target: str, pages: dict[str, str], report: GroundingReport) -> None:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return
        resolved = normpath(f"{dirname(page)}/{target.split('#', 1)[0]}" if dirname(page) else target.split("#", 1)[0])
        ok = resolved in pages
        report.tallies["links"].add(ok)
        if not ok:
            report.findings.append(Finding(page, "links", f"link to {target} points at no page of the course"))

    def symbol_exists(self, name: str) -> bool:
        names = self.workspace.symbol_names
        parts = re.split(r"\.|::", name)
        if name in names or parts[-1] in names or ".".join(parts[-2:]) in names:
            return True
        first = parts[0]
        return first in _PYTHON_BUILTINS or first in _OTHER_BUILTINS or first in self.workspace.code_map.external

    def excerpt_matches(self, lines: list[str], cited: str | None) -> bool:
        """Whether the block's lines are a contiguous span (elisions allowed) of the cited or any file."""
        segments = _segments(lines)
        if not segments:
            return True
        candidates = [cited] if cited in self.paths else sorted(self.paths)
        return any(_contains(self._normalised(path), segments) for path in candidates if path is not None)

    def _normalised(self, path: str) -> list[str]:
        """A file's non-blank lines, whitespace-normalised; computed once (an uncited excerpt is
        looked for in every file, and repair checks again what the review checked)."""
        normalised = self._normalised_files.get(path)
        if normalised is None:
            normalised = [_normalise(line) for line in self.workspace.lines(path) if line.strip()]
            self._normalised_files[path] = normalised
        return normalised

    # ------------------------------------------------------------------ repairing

    def repair(self, markdown: str, page: str, note: str, diagram_note: str) -> tuple[str, int]:
        """The page with every failing claim degraded, and how many were."""
        lines = markdown.split("\n")
        repairs = 0
        for block in reversed(_blocks(lines)):
            if block.language == "mermaid":
                if check_mermaid("\n".join(block.lines)) is not None:
                    lines[block.start : block.end + 1] = [f"*{diagram_note}*", "", "```text", *block.lines, "```"]
                    repairs += 1
            elif block.language not in _COMMAND_LANGUAGES and not self.excerpt_matches(block.lines, block.cited):
                lines[block.start] = lines[block.start].replace(block.language, "text", 1)
                repairs += 1
        inside = {index for block in _blocks(lines) for index in range(block.start, block.end + 1)}
        for index, line in enumerate(lines):
            if index in inside:
                continue
            fixed, count = self._repair_line(line, page, note)
            lines[index] = fixed
            repairs += count
        return "\n".join(lines), repairs

    def _repair_line(self, line: str, page: str, note: str) -> tuple[str, int]:
        count = 0

        def inline(match: re.Match[str]) -> str:
            nonlocal count
            report = GroundingReport()
            self._check_inline(page, match.group(1).strip(), report)
            if report.findings:
                count += 1
                return f"{match.group(1)} *({note})*"
            return match.group(0)

        return _INLINE.sub(inline, line), count

    def repair_links(self, markdown: str, page: str, pages: set[str]) -> tuple[str, int]:
        """Dead relative links become their text."""
        count = 0

        def link(match: re.Match[str]) -> str:
            nonlocal count
            target = match.group("target")
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                return match.group(0)
            base = target.split("#", 1)[0]
            resolved = normpath(f"{dirname(page)}/{base}" if dirname(page) else base)
            if resolved in pages:
                return match.group(0)
            count += 1
            return match.group("text")

        return _LINK.sub(link, markdown), count


def _blocks(lines: list[str]) -> list[_Block]:
    blocks = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence = opening.group("fence")
        language = opening.group("info").strip().split(" ", 1)[0].lower()
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        indent = len(opening.group("indent"))
        body = [line[indent:] if line[:indent].isspace() else line for line in lines[index + 1 : end]]
        blocks.append(_Block(language, body, index, min(end, len(lines) - 1), _cited_before(lines, index)))
        index = end + 1
    return blocks


def _cited_before(lines: list[str], index: int) -> str | None:
    """The path of the last `path:line` anchor in the paragraph right before a code block."""
    position = index - 1
    while position >= 0 and not lines[position].strip():
        position -= 1
    if position < 0:
        return None
    for span in reversed(_INLINE.findall(lines[position])):
        anchor = _ANCHOR.match(span.strip())
        if anchor:
            return anchor.group("path")
    return None


def _looks_like_symbol(span: str) -> bool:
    """Dotted names, calls, CamelCase, snake_case and CONSTANTS look like symbols; plain words do not."""
    return (
        "." in span
        or "::" in span
        or span.endswith("()")
        or "_" in span.strip("_")
        or bool(re.search(r"[a-z][A-Z]|^[A-Z][a-z]+[A-Z]", span))
    )


def _normalise(line: str) -> str:
    return " ".join(line.split())


def _segments(lines: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    for line in lines:
        normalised = _normalise(line)
        if not normalised:
            continue
        if _ELISION.match(normalised):
            segments.append([])
        else:
            segments[-1].append(normalised)
    return [segment for segment in segments if segment]


def _contains(haystack: list[str], segments: list[list[str]]) -> bool:
    """Whether the segments appear in order, each as a contiguous run of `haystack`."""
    position = 0
    for segment in segments:
        found = _find(haystack, segment, position)
        if found < 0:
            return False
        position = found + len(segment)
    return True


def _find(haystack: list[str], needle: list[str], start: int) -> int:
    first = needle[0]
    for index in range(start, len(haystack) - len(needle) + 1):
        if haystack[index] == first and haystack[index : index + len(needle)] == needle:
            return index
    return -1


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: count + 1]) for count in range(len(parts))]
