"""Rules every step's output must meet, whoever produced it (the offline builder or, later, a model).

A violation raises `InvalidStepOutput` with a message precise enough to send back to a model as a
repair request: which item, which field, what is wrong.
"""

from __future__ import annotations

from fondation.codemap.model import CodeMap
from fondation.pipeline.model import Abstraction, Relationships
from fondation.pipeline.workspace import Workspace


class InvalidStepOutput(ValueError):
    """A step's output breaks a rule; the message names the item and the rule."""


def validate_abstractions(abstractions: tuple[Abstraction, ...], code_map: CodeMap) -> None:
    seen: set[str] = set()
    for abstraction in abstractions:
        if not abstraction.id or abstraction.id in seen:
            raise InvalidStepOutput(f"abstraction id {abstraction.id!r} is empty or used twice")
        seen.add(abstraction.id)
        if not abstraction.name.strip():
            raise InvalidStepOutput(f"abstraction {abstraction.id!r} has no name")
        if not abstraction.files:
            raise InvalidStepOutput(f"abstraction {abstraction.id!r} names no file")
        for path in abstraction.files:
            if path not in code_map.by_path:
                raise InvalidStepOutput(f"abstraction {abstraction.id!r}: file {path!r} is not in the repository")
        for reference in abstraction.symbols:
            path, _, qualname = reference.partition("::")
            entry = code_map.by_path.get(path)
            if entry is None or not any(symbol.qualname == qualname for symbol in entry.symbols):
                raise InvalidStepOutput(
                    f"abstraction {abstraction.id!r}: symbol {reference!r} is not in the repository"
                )


def validate_relationships(
    relationships: Relationships, abstractions: tuple[Abstraction, ...], workspace: Workspace
) -> None:
    ids = {abstraction.id for abstraction in abstractions}
    for edge in relationships.edges:
        if edge.source not in ids or edge.target not in ids:
            raise InvalidStepOutput(f"relationship {edge.source!r} → {edge.target!r} names an unknown abstraction")
        path, _, line = edge.evidence.rpartition(":")
        if not line.isdigit() or not 1 <= int(line) <= len(workspace.lines(path)):
            raise InvalidStepOutput(
                f"relationship {edge.source!r} → {edge.target!r}: evidence {edge.evidence!r} is not a path:line "
                "of the repository"
            )


def validate_order(order: tuple[str, ...], abstractions: tuple[Abstraction, ...]) -> None:
    ids = [abstraction.id for abstraction in abstractions]
    if sorted(order) != sorted(ids):
        missing = sorted(set(ids) - set(order))
        extra = sorted(set(order) - set(ids))
        raise InvalidStepOutput(
            f"order must list every abstraction exactly once (missing: {missing or 'none'}, "
            f"unknown or repeated: {extra or [i for i in order if order.count(i) > 1] or 'none'})"
        )
