"""The tree-sitter languages, by the ids the scanner assigns to files.

`.jsx` files are `javascript` (its grammar reads JSX); `.tsx` files need the `tsx` grammar, which
TypeScript's own grammar cannot read. C and C++ share a resolver; so do Java and Kotlin, whose
imports may cross from one to the other.
"""

from __future__ import annotations

from fondation.codemap.languages.base import LanguageSupport
from fondation.codemap.languages.c_family import CPP, C
from fondation.codemap.languages.csharp import CSHARP
from fondation.codemap.languages.go import GO
from fondation.codemap.languages.javascript import JAVASCRIPT, TSX, TYPESCRIPT
from fondation.codemap.languages.jvm import JAVA, KOTLIN
from fondation.codemap.languages.php import PHP
from fondation.codemap.languages.ruby import RUBY
from fondation.codemap.languages.rust import RUST

TREE_SITTER_LANGUAGES: dict[str, LanguageSupport] = {
    "javascript": JAVASCRIPT,
    "typescript": TYPESCRIPT,
    "tsx": TSX,
    "go": GO,
    "rust": RUST,
    "java": JAVA,
    "kotlin": KOTLIN,
    "c": C,
    "cpp": CPP,
    "csharp": CSHARP,
    "ruby": RUBY,
    "php": PHP,
}
