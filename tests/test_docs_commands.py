"""Every `fondation …` command the runbook and the operations guide tell an operator to type must parse.

The commands are taken from the documents themselves (code blocks and inline code), parsed by the
real CLI's parser without running them: an unknown command, an unknown option or a missing argument
fails here, before it fails an operator in the middle of an incident.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main
from typer import TyperException

from fondation.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ("docs/RUNBOOK.md", "docs/OPERATIONS.md", "README.md", "deploy/README.md")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`(fondation [^`]+)`")


def _commands(text: str) -> list[str]:
    """`fondation …` lines of code blocks (comments cut, continuations joined) and inline code spans."""
    found: list[str] = []
    for block in _FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            line = re.sub(r"^(?:\$\s+|sudo\s+(?:-u\s+\S+\s+)?|.*?(?:&&|\|)\s*)", "", line)
            if line.startswith("fondation "):
                found.append(line)
    prose = _FENCE.sub("", text)
    found += _INLINE.findall(prose)
    return found


class UnknownCommand(TyperException):
    """The documented command names a subcommand the CLI does not have."""


#: Placeholders of usage lines, with a value of the type the option or argument takes.
PLACEHOLDERS = {
    "ID": "12",
    "N": "2",
    "S": "5",
    "NAME": "alice",
    "FILE": "backup.tar.gz",
    "DIR": "/tmp/fondation-backups",
    "T": "2h",
    "SOURCE": "owner/repo",
    "REF": "main",
    "LABEL": "ci",
    "TEXT": "incident",
}
_OPTIONAL = re.compile(r"\[([^\[\]]+)\]")
_CHOICE = re.compile(r"\(([^()]+)\)")


def _usage_to_example(command: str) -> str:
    """A usage line as an example: `[--x X]` taken, the first of `a | b` and of `a|b`, placeholders filled."""
    command = " ".join(command.split())
    command = _CHOICE.sub(lambda m: m.group(1).split("|")[0].strip(), command)
    while _OPTIONAL.search(command):
        command = _OPTIONAL.sub(lambda m: m.group(1).split(" | ")[0], command)
    words = [word.split("|")[0] if "|" in word and not word.startswith("|") else word for word in command.split()]
    return " ".join(PLACEHOLDERS.get(word, word) for word in words)


def _parse(command: str) -> None:
    """Parse one command line with the CLI's real parser (Typer's); raises a TyperException when it does not fit."""
    words = shlex.split(_usage_to_example(command))[1:]
    words = [word for word in words if word not in ("…", "...")]
    group = typer.main.get_command(app)
    path = ["fondation"]
    while True:
        context = group.make_context(" ".join(path), list(words), resilient_parsing=False)
        if not hasattr(group, "get_command"):  # a command, not a group: parsed whole
            return
        # Click keeps a group's subcommand and its arguments apart from its own (a private name since 8.2).
        rest = [*getattr(context, "_protected_args", []), *context.args]
        if not rest:
            return
        name, words = rest[0], rest[1:]
        sub = group.get_command(context, name)
        if sub is None:
            raise UnknownCommand(f"no command {name!r} under {' '.join(path)!r}")
        group, path = sub, [*path, name]


def _documented() -> list[tuple[str, str]]:
    pairs = []
    for document in DOCUMENTS:
        text = (ROOT / document).read_text(encoding="utf-8")
        pairs += [(document, command) for command in _commands(text)]
    return pairs


def test_the_documents_name_commands_at_all() -> None:
    counts = {document: sum(1 for d, _ in _documented() if d == document) for document in DOCUMENTS}
    assert all(count >= 5 for count in counts.values()), counts


@pytest.mark.parametrize(("document", "command"), _documented())
def test_every_documented_command_parses(document: str, command: str) -> None:
    try:
        _parse(command)
    except TyperException as error:
        pytest.fail(f"{document}: `{command}` does not parse: {error}")


@pytest.mark.parametrize(
    "command",
    [
        "fondation jobs frobnicate",
        "fondation jobs list --colour red",
        "fondation worker --concurency 2",
        "fondation jobs show",
        "fondation users add alice --admn",
        "fondation jobs show twelve",
    ],
)
def test_a_wrong_command_is_caught(command: str) -> None:
    with pytest.raises(TyperException):
        _parse(command)
