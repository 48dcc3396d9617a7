"""Every language Fondation analyses, by language id (the ids `detect.detect_language` returns)."""

from __future__ import annotations

from fondation.codemap.languages import python
from fondation.codemap.languages.base import LanguageSupport
from fondation.codemap.languages.tree_sitter_languages import TREE_SITTER_LANGUAGES

LANGUAGES: dict[str, LanguageSupport] = {"python": python.SUPPORT, **TREE_SITTER_LANGUAGES}
