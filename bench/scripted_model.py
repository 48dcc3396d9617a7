"""A scripted model: answers Fondation's prompts the way a good model would, from the prompt alone.

Tests put it behind fake servers that speak the real wire protocols (so the real provider clients
run), and the LLM benchmark behind a provider of fixed latency. It reads which step a prompt is for
from the prompt's task line, and answers with what the offline builder would produce from the same
material: valid JSON for the structured steps, markdown bodies that quote the material's numbered
lines exactly. It keeps no state between calls, so any call can be answered in any process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from fondation.codemap.build import build_code_map
from fondation.pipeline.model import Abstraction, GenerationOptions, Relationship, Relationships
from fondation.pipeline.offline.abstractions import offline_abstractions
from fondation.pipeline.offline.chapters import fence
from fondation.pipeline.offline.relationships import offline_order, offline_relationships
from fondation.pipeline.workspace import Workspace

_RANGE = re.compile(r"Task: choose the (\d+) to (\d+) core abstractions")
_LISTED = re.compile(r"^- ([a-z0-9-]+): (.+?) \((.+?)\) — ", re.MULTILINE)
_ID_LINE = re.compile(r"^- ([a-z0-9-]+): ", re.MULTILINE)
_USES = re.compile(r"^- ([a-z0-9-]+) uses ([a-z0-9-]+) \(", re.MULTILINE)
_EXCERPT = re.compile(r"^Excerpt (\S+):(\d+)-(\d+) \((.+?)\):\n((?:\s*\d+ \| .*\n?)+)", re.MULTILINE)
_CHAPTER = re.compile(r"<<<\n(.*)\n>>>", re.DOTALL)

STEP_MARKERS = {
    "abstractions": "Task: choose the",
    "relationships": "Task: write a summary of the project",
    "order": "Task: order the abstractions",
    "chapter": "Task: write the chapter's body",
    "review": "Task: return the corrected chapter",
    "tutorial": "Task: write the tutorial's body",
}


def step_of(prompt: str) -> str:
    """Which pipeline step a prompt asks for ("" when none)."""
    return next((step for step, marker in STEP_MARKERS.items() if marker in prompt), "")


class ScriptedModel:
    """Answers for one repository (its code map is built once, from `root`)."""

    def __init__(self, root: Path) -> None:
        self.workspace = Workspace(root, build_code_map(root, name=root.name))

    def answer(self, prompt: str) -> str:
        step = step_of(prompt)
        french = "French (français)" in prompt
        if step == "abstractions":
            return self._abstractions(prompt)
        if step == "relationships":
            return self._relationships(prompt, french)
        if step == "order":
            return self._order(prompt)
        if step == "chapter":
            return self._chapter(prompt, french)
        if step == "review":
            match = _CHAPTER.search(prompt)
            return match.group(1) if match else ""
        if step == "tutorial":
            return self._tutorial(prompt, french)
        return "I can only help with Fondation's prompts."

    def _abstractions(self, prompt: str) -> str:
        match = _RANGE.search(prompt)
        high = int(match.group(2)) if match else 10
        found = offline_abstractions(self.workspace, GenerationOptions(max_chapters=high))
        items = [
            {"id": a.id, "name": a.name, "description": a.description or f"The {a.name} part.", "files": list(a.files),
             "symbols": list(a.symbols)}
            for a in found
        ]  # fmt: skip
        return "Here are the abstractions:\n```json\n" + json.dumps({"abstractions": items}) + "\n```"

    def _listed(self, prompt: str) -> tuple[Abstraction, ...]:
        return tuple(
            Abstraction(identifier, name, "", tuple(files.split(", ")), ())
            for identifier, name, files in _LISTED.findall(prompt)
        )

    def _relationships(self, prompt: str, french: bool) -> str:
        relationships = offline_relationships(
            self.workspace, self._listed(prompt), GenerationOptions(language="fr" if french else "en")
        )
        summary = (
            "Ce projet est présenté chapitre par chapitre."
            if french
            else "This project is presented chapter by chapter."
        )
        edges = [
            {"source": e.source, "target": e.target, "label": e.label, "evidence": e.evidence}
            for e in relationships.edges
        ]
        return json.dumps({"summary": summary, "relationships": edges})

    def _order(self, prompt: str) -> str:
        listed_part, _, uses_part = prompt.partition("How they use each other:")
        ids = _ID_LINE.findall(listed_part)
        abstractions = tuple(Abstraction(identifier, identifier, "", ("x",), ()) for identifier in ids)
        edges = tuple(Relationship(source, target, "", "") for source, target in _USES.findall(uses_part))
        return json.dumps({"order": list(offline_order(abstractions, Relationships("", edges)))})

    def _chapter(self, prompt: str, french: bool) -> str:
        excerpt = _EXCERPT.search(prompt)
        sections = (
            ("## Motivation", "## Un cas d'usage central", "## Notions clés", "## Comment il fonctionne")
            if french
            else ("## Motivation", "## A central use case", "## Key concepts", "## How it works")
        )
        prose = (
            "Ce chapitre explique cette partie du code et son rôle dans le projet."
            if french
            else "This chapter explains this part of the code and its role in the project."
        )
        body = [sections[0], prose, sections[1], prose, sections[2], prose, sections[3]]
        if excerpt:
            path, start, _, qualname, lines = excerpt.groups()
            code = [re.sub(r"^\s*\d+ \| ", "", line) for line in lines.rstrip("\n").split("\n")][:6]
            end = int(start) + len(code) - 1
            body += [
                f"`{qualname}` (`{path}:{start}`):" if not french else f"`{path}:{start}` définit `{qualname}` :",
                f"`{path}:{start}-{end}`",
                f"```{fence(self.workspace, path)}\n" + "\n".join(code) + "\n```",
            ]
        body.append('```mermaid\nflowchart LR\n    a["caller"] --> b["this part"]\n```')
        return "\n\n".join(body)

    def _tutorial(self, prompt: str, french: bool) -> str:
        commands = re.findall(r"^- ((?:python|npm|go|cargo|mvn|bundle|vendor|dotnet) .+)$", prompt, re.MULTILINE)
        run = "\n".join(commands[:2]) or "python -m pytest"
        if french:
            return (
                "## Objectif\n\nComprendre cette partie du code en la faisant tourner et en la modifiant.\n\n"
                f"## Étapes\n\n1. Lancez les tests qui l'exercent :\n\n```bash\n{run}\n```\n\n"
                "2. Changez une valeur renvoyée et relancez-les.\n\n"
                "## Comment vérifier votre résultat\n\n"
                "Les tests passent, puis l'un d'eux échoue après votre changement."
            )
        return (
            "## Goal\n\nUnderstand this part of the code by running it and changing it.\n\n"
            f"## Steps\n\n1. Run the tests that exercise it:\n\n```bash\n{run}\n```\n\n"
            "2. Change a returned value and run them again.\n\n"
            "## How to check your result\n\nThe tests pass, then one of them fails after your change."
        )
