"""The course's shape once the order is known: chapter numbers, file names and the links between pages.

Every page's links are computed here and only here, so a link can never point at a file name that
another part of the generator spelled differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from fondation.pipeline.model import Abstraction, Relationships, slugify
from fondation.pipeline.offline.wording import Words


@dataclass(frozen=True)
class Outline:
    abstractions: tuple[Abstraction, ...]
    relationships: Relationships
    order: tuple[str, ...]

    @cached_property
    def by_id(self) -> dict[str, Abstraction]:
        return {abstraction.id: abstraction for abstraction in self.abstractions}

    def number(self, identifier: str) -> int:
        return self.order.index(identifier) + 1

    def _file_name(self, identifier: str) -> str:
        return f"{self.number(identifier):02d}-{slugify(self.by_id[identifier].name)}.md"

    def chapter_path(self, identifier: str) -> str:
        return f"chapters/{self._file_name(identifier)}"

    def tutorial_path(self, identifier: str) -> str:
        return f"tutorials/{self._file_name(identifier)}"

    def link(self, identifier: str, *, from_dir: str, words: Words, tutorial: bool = False) -> str:
        """A markdown link to a chapter (or its tutorial), relative to a page in `from_dir` ('' = root)."""
        target = self.tutorial_path(identifier) if tutorial else self.chapter_path(identifier)
        key = "tutorial" if tutorial else "chapter"
        title = words(key, number=self.number(identifier), name=self.by_id[identifier].name)
        return f"[{title}]({_relative(target, from_dir)})"

    def navigation(self, identifier: str, words: Words, *, from_dir: str, tutorial: bool = False) -> str:
        """Previous · overview · next (chapters, or tutorials), plus the page's companion."""
        position = self.order.index(identifier)
        pages = from_dir == "tutorials"
        items = []
        if position > 0:
            previous = self._relative_page(self.order[position - 1], from_dir, pages)
            items.append(f"[← {words('previous')}]({previous})")
        items.append(f"[{words('overview')}]({_relative('index.md', from_dir)})")
        if position + 1 < len(self.order):
            following = self._relative_page(self.order[position + 1], from_dir, pages)
            items.append(f"[{words('next')} →]({following})")
        if tutorial and not pages:
            items.append(f"[{words('tutorial_link')}]({_relative(self.tutorial_path(identifier), from_dir)})")
        if pages:
            items.append(f"[{words('chapter_link')}]({_relative(self.chapter_path(identifier), from_dir)})")
        return " · ".join(items)

    def related(self, identifier: str, words: Words, *, from_dir: str) -> str:
        """A list of the chapters this one uses or is used by, with the relationship's label."""
        lines = []
        for edge in self.relationships.edges:
            if edge.source == identifier and edge.target in self.by_id:
                lines.append(
                    f"- {words('uses')} {self.link(edge.target, from_dir=from_dir, words=words)} — {edge.label}"
                )
            elif edge.target == identifier and edge.source in self.by_id:
                link = self.link(edge.source, from_dir=from_dir, words=words)
                lines.append(f"- {words('used_by_label')} {link}")
        return "\n".join(dict.fromkeys(lines))

    def _relative_page(self, identifier: str, from_dir: str, tutorial: bool) -> str:
        target = self.tutorial_path(identifier) if tutorial else self.chapter_path(identifier)
        return _relative(target, from_dir)

    @staticmethod
    def file_label(path: str) -> str:
        """A short, readable name for a file in a diagram: its last two path parts."""
        return "/".join(path.split("/")[-2:])


def _relative(target: str, from_dir: str) -> str:
    """`target` (relative to the course root) as seen from a page in `from_dir`."""
    if not from_dir:
        return target
    directory, _, name = target.rpartition("/")
    if directory == from_dir:
        return name
    return f"../{target}"
