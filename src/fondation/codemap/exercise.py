"""Which tests exercise which code: the raw material of the hands-on tutorials.

A test file exercises a file it imports (or, in Go, Java and the like, a file of the package it
belongs to, which needs no import), and within that file the symbols whose names it mentions. Names
are matched as whole identifiers; it is a cheap lexical link, not a call graph, and a tutorial only
needs a good place to start reading.
"""

from __future__ import annotations

import re
from collections import defaultdict

from fondation.codemap.model import FileEntry, TestLink

_IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def identifiers(text: bytes) -> frozenset[str]:
    """The identifiers a test file mentions."""
    return frozenset(match.decode("ascii") for match in _IDENTIFIER.findall(text))


def exercise_links(
    files: dict[str, FileEntry],
    imports: dict[str, tuple[str, ...]],
    same_package: dict[str, tuple[str, ...]],
    mentioned: dict[str, frozenset[str]],
) -> tuple[TestLink, ...]:
    """Links from (file, qualname) to the test files exercising them; qualname "" is the whole file.

    `imports` gives each file's resolved imports, `same_package` the files sharing its declared
    package, `mentioned` each test file's identifiers.
    """
    tests_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for test_path, names in mentioned.items():
        targets = set(imports.get(test_path, ())) | set(same_package.get(test_path, ()))
        for target in targets:
            entry = files.get(target)
            if entry is None or entry.test:
                continue
            tests_of[(target, "")].add(test_path)
            for symbol in entry.symbols:
                if symbol.name in names:
                    tests_of[(target, symbol.qualname)].add(test_path)
    return tuple(TestLink(path, qualname, tuple(sorted(tests))) for (path, qualname), tests in sorted(tests_of.items()))
