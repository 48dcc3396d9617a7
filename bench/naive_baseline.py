"""The naive baseline: how common open-source course writers feed a model, to compare Fondation's LLM cost with.

Tools that turn a repository into a tutorial with an LLM (PocketFlow's Tutorial-Codebase-Knowledge
is the best known; its chapter sections are the ones Fondation asks for) build their prompts by
concatenation:

1. abstractions: every source file of the repository, whole, one after the other
   (`--- File Index i: path ---` then the file's text);
2. relationships: the list of abstractions, and every file any of them names, whole;
3. order: the abstractions and their relationships (no code);
4. chapters, one after the other: the course's structure, *every earlier chapter in full*, and every
   file of the chapter's abstraction, whole.

They ask for no review and write no tutorial. `NaiveWriter` does exactly that, as a `CourseWriter`
run by the same `generate_course`, over the same recording provider and the same scripted model as
Fondation's `LlmWriter` (see `bench.llm`), so calls, tokens and wall time are measured the same way.
Each prompt keeps the instructions of Fondation's prompt for the same step (the scripted model reads
its task line to know what to answer): only the repository context differs, and that is what the
comparison is about.

The files are the ones PocketFlow's default patterns pick (source files, markdown, reStructuredText,
YAML, Makefiles; tests, docs, examples, build and vendored folders left out; files over 100 kB
skipped), matched the way its crawler matches them (`fnmatch` on the relative path, and on each
folder's name). Its crawler also reads `.gitignore`: the two archives that carry one lose no
file to it that the patterns keep.

What is counted, and how it leans: every prompt is counted whole, even where a real model would
refuse or truncate it (`CONTEXT_WINDOWS` says which first prompts would fit where). The instructions
are Fondation's, shorter than those tools' own; the chapters are the scripted model's, a few hundred
tokens each, where a real model writes thousands, and every later chapter prompt carries them all.
The baseline as measured is therefore cheaper than the real tools, and Fondation's fraction of it an
upper bound.
"""

from __future__ import annotations

import os
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from fondation.pipeline.llm import prompts
from fondation.pipeline.llm.context import dependency_lines
from fondation.pipeline.llm.writer import LlmWriter
from fondation.pipeline.model import MIN_CHAPTERS, Abstraction, Page, Relationship, Relationships
from fondation.pipeline.outline import Outline
from fondation.pipeline.steps import Made, StepPlan
from fondation.pipeline.validation import validate_relationships
from fondation.pipeline.workspace import Workspace

NAIVE_VERSION = "naive-1"

#: Context windows (tokens) of the models such tools are run with, smallest first: which one a prompt fits.
#: 128k: GPT-4o; 200k: Claude; 1M: Gemini 1.5 and 2.x.
CONTEXT_WINDOWS = (("128k", 128_000), ("200k", 200_000), ("1M", 1_000_000))

#: PocketFlow Tutorial-Codebase-Knowledge's defaults (its main.py): the files its crawler sends.
INCLUDE_PATTERNS = (
    "*.py", "*.js", "*.jsx", "*.ts", "*.tsx", "*.go", "*.java", "*.pyi", "*.pyx", "*.c", "*.cc", "*.cpp", "*.h",
    "*.md", "*.rst", "*Dockerfile", "*Makefile", "*.yaml", "*.yml",
)  # fmt: skip
EXCLUDE_PATTERNS = (
    "assets/*", "data/*", "images/*", "public/*", "static/*", "temp/*", "*docs/*", "*venv/*", "*.venv/*",
    "*test*", "*tests/*", "*examples/*", "v1/*", "*dist/*", "*build/*", "*experimental/*", "*deprecated/*",
    "*misc/*", "*legacy/*", ".git/*", ".github/*", ".next/*", ".vscode/*", "*obj/*", "*bin/*", "*node_modules/*",
    "*.log",
)  # fmt: skip
MAX_FILE_BYTES = 100_000


def source_paths(root: Path) -> list[str]:
    """The files such a tool sends, in crawl order: its default include and exclude patterns (tests are
    left out, markdown and YAML are in), files over 100 kB skipped, matched as its crawler matches them."""
    found = []
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        dirs[:] = sorted(
            name
            for name in dirs
            if not any(
                fnmatch(str((here / name).relative_to(root)), pattern) or fnmatch(name, pattern)
                for pattern in EXCLUDE_PATTERNS
            )
        )
        for name in sorted(files):
            path = str((here / name).relative_to(root))
            if any(fnmatch(path, pattern) for pattern in EXCLUDE_PATTERNS):
                continue
            if not any(fnmatch(path, pattern) for pattern in INCLUDE_PATTERNS):
                continue
            if (here / name).stat().st_size <= MAX_FILE_BYTES:
                found.append(path)
    return found


def file_text(workspace: Workspace, path: str) -> str:
    """A file's whole text, read from the checkout (not kept: the largest code bases are tens of megabytes)."""
    try:
        return (workspace.root / path).read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


def concatenated(workspace: Workspace, paths: list[str], *, indexed: bool) -> str:
    """Whole files one after the other, as those tools build their context."""
    if indexed:
        return "".join(
            f"--- File Index {i}: {path} ---\n{file_text(workspace, path)}\n\n" for i, path in enumerate(paths)
        )
    return "\n\n".join(f"--- File: {path} ---\n{file_text(workspace, path)}" for path in paths)


def codebase_context(workspace: Workspace) -> str:
    """The first prompt's context: every source file, whole, then their list."""
    paths = source_paths(workspace.root)
    listing = "\n".join(f"- {i} # {path}" for i, path in enumerate(paths))
    return (
        f"For the project `{workspace.code_map.name}`:\n\nCodebase Context:\n"
        f"{concatenated(workspace, paths, indexed=True)}\n"
        f"List of file indices and paths present in the context:\n{listing}"
    )


class NaiveWriter(LlmWriter):
    """Fondation's LLM writer with the naive tools' context: whole files, and every earlier chapter in full.

    Chapters must be written one after the other (`generate_course(..., parallel=1)`), as the tools
    do: each chapter's prompt holds the text of all the chapters before it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.identity = f"{NAIVE_VERSION}:{self.identity}"
        self.written: list[str] = []

    def abstractions(self) -> StepPlan[tuple[Abstraction, ...]]:
        high = self.options.max_chapters
        prompt = prompts.abstractions_prompt(
            codebase_context(self.workspace), min(MIN_CHAPTERS, high), high, self.options.language
        )
        request = self._request("abstractions", prompt, self.max_output_tokens)
        return self._plan(request, self._structured(self._parse_abstractions), self.offline.abstractions())

    def relationships(self, abstractions: tuple[Abstraction, ...]) -> StepPlan[Relationships]:
        paths = sorted({path for abstraction in abstractions for path in abstraction.files})
        context = "Relevant File Snippets (Referenced by Index and Path):\n" + concatenated(
            self.workspace, paths, indexed=False
        )
        edges = dependency_lines(self.workspace, abstractions)
        prompt = prompts.relationships_prompt(context, abstractions, edges, self.options.language)
        request = self._request("relationships", prompt, self.max_output_tokens)

        def parse(data: Any) -> Relationships:  # as LlmWriter's: the same rules for both writers' answers
            relationships = Relationships(
                summary=" ".join(str(data["summary"]).split())[:1200],
                edges=tuple(
                    Relationship(str(e["source"]), str(e["target"]), " ".join(str(e["label"]).split())[:80],
                                 str(e["evidence"]))
                    for e in data["relationships"]
                ),
            )  # fmt: skip
            validate_relationships(relationships, abstractions, self.workspace)
            return relationships

        return self._plan(request, self._structured(parse), self.offline.relationships(abstractions))

    def chapter(self, outline: Outline, abstraction: Abstraction) -> StepPlan[Page]:
        number = outline.number(abstraction.id)
        if number - 1 != len(self.written):
            raise RuntimeError("the naive baseline writes its chapters one after the other: run it with parallel=1")
        structure = "\n".join(
            f"{position}. {outline.by_id[identifier].name}"
            for position, identifier in enumerate(outline.order, start=1)
        )
        earlier = ["\n---\n".join(self.written)] if self.written else []
        material = f"Complete Tutorial Structure:\n{structure}\n\nRelevant Code Snippets:\n" + concatenated(
            self.workspace, list(abstraction.files), indexed=False
        )
        prompt = prompts.chapter_prompt(
            self.workspace.code_map.name,
            f"chapter {number} of {len(outline.order)}",
            earlier,
            abstraction,
            material,
            self.options.language,
        )
        request = self._request("chapter", prompt, self.max_output_tokens)
        plan = self._plan(
            request, lambda r: self._chapter_page(r, outline, abstraction), self.offline.chapter(outline, abstraction)
        )

        def make() -> Made[Page]:
            made = plan.make()
            self.written.append(made.value.markdown)
            return made

        return StepPlan(plan.step, plan.key, make, plan.encode, plan.decode)

    def review(self, outline: Outline, page: Page, findings: list[str]) -> StepPlan[Page]:
        """No review: the tools publish what the model wrote (the grounding gate still degrades bad parts)."""
        return self.offline.review(outline, page, findings)

    def tutorial(self, outline: Outline, abstraction: Abstraction) -> StepPlan[Page]:
        """No tutorial call: the tools write chapters only (the offline tutorial fills the page, free)."""
        return self.offline.tutorial(outline, abstraction)
