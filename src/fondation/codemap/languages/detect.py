"""Which language a file is written in, by extension, by name, then by shebang.

The id decides which analyser reads the file (`python`, `typescript`, …); files in languages with no
analyser (markdown, yaml, shell, …) are still listed, because a course may cite them and the
grounding check must know they exist.
"""

from __future__ import annotations

import re
from posixpath import basename

_BY_EXTENSION = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "restructuredtext",
    ".txt": "text",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".json": "json",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".html": "html",
    ".htm": "html",
    ".css": "css",
    ".scss": "css",
    ".sql": "sql",
    ".xml": "xml",
    ".swift": "swift",
    ".scala": "scala",
    ".lua": "lua",
    ".pl": "perl",
    ".r": "r",
    ".vue": "vue",
    ".svelte": "svelte",
}

_BY_NAME = {
    "makefile": "make",
    "gnumakefile": "make",
    "dockerfile": "dockerfile",
    "containerfile": "dockerfile",
    "rakefile": "ruby",
    "gemfile": "ruby",
    "justfile": "make",
    "cmakelists.txt": "cmake",
}

_SHEBANG = re.compile(rb"^#![^\n]*?\b(python|node|ruby|php|bash|sh|zsh)[0-9.]*\b")
_SHEBANG_LANGUAGES = {
    b"python": "python",
    b"node": "javascript",
    b"ruby": "ruby",
    b"php": "php",
    b"bash": "shell",
    b"sh": "shell",
    b"zsh": "shell",
}


def detect_language(path: str, head: bytes) -> str:
    """The language id of `path`, whose first bytes are `head`; `text` when nothing tells."""
    name = basename(path).lower()
    if name in _BY_NAME:
        return _BY_NAME[name]
    dot = name.rfind(".")
    if dot > 0:
        language = _BY_EXTENSION.get(name[dot:])
        if language is not None:
            return language
    shebang = _SHEBANG.match(head)
    if shebang:
        return _SHEBANG_LANGUAGES[shebang.group(1)]
    return "text"
