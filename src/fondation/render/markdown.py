"""Markdown to safe HTML for course pages, shared by the static site and the web app's course viewer.

Course text is written by a model, so it is untrusted: raw HTML is allowed through the parser but every
page is sanitised with nh3 afterwards (no scripts, styles, event handlers or `javascript:` URLs). Code is
highlighted here, with Pygments, so pages need no JavaScript for it; mermaid blocks are left as escaped
source in `<pre class="mermaid">` for the browser to draw.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

__all__ = ["CodeReferenceLinker", "LinkRewriter", "highlight_css", "render_markdown"]

LinkRewriter = Callable[[str], str]
"""Maps a link's href as written in the markdown to the href the page should carry."""
CodeReferenceLinker = Callable[[str, int], str | None]
"""Maps a `path:line` code reference to the URL of that line (in the repository's web view), if known."""

#: An inline code span that is a source reference, as courses write them: `src/pkg/mod.py:42`.
_CODE_REFERENCE = re.compile(r"^(?P<path>[\w.@+-]+(?:/[\w.@+-]+)*\.[\w+-]+):(?P<line>\d{1,7})(?:-\d{1,7})?$")

_FORMATTER = HtmlFormatter(nowrap=True)
_HEADINGS = {f"h{level}" for level in range(1, 7)}
_CLEANER = nh3.Cleaner(
    tags={
        *_HEADINGS,
        *("a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "hr"),
        *("i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "summary", "sup", "table"),
        *("tbody", "td", "th", "thead", "tr", "ul"),
    },
    attributes={
        **{heading: {"id"} for heading in _HEADINGS},
        "a": {"href", "title", "class"},
        "img": {"src", "alt", "title"},
        "pre": {"class"},
        "code": {"class"},
        "span": {"class"},
        "div": {"class"},
        "ol": {"start"},
        "th": {"style"},
        "td": {"style"},
    },
    filter_style_properties={"text-align"},
    url_schemes={"http", "https"},
)


def _fence(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    language = token.info.split(maxsplit=1)[0].lower() if token.info.strip() else ""
    if language == "mermaid":
        return f'<pre class="mermaid">{html.escape(token.content)}</pre>\n'
    try:
        code = highlight(token.content, get_lexer_by_name(language), _FORMATTER)
    except ClassNotFound:
        code = html.escape(token.content)
    css_class = f' class="language-{html.escape(language)}"' if language else ""
    return f'<pre class="highlight"><code{css_class}>{code}</code></pre>\n'


def _code_inline(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    content = tokens[idx].content
    code = f"<code>{html.escape(content)}</code>"
    linker = env.get("code_reference")
    match = _CODE_REFERENCE.match(content) if linker else None
    url = linker(match["path"], int(match["line"])) if match else None
    return f'<a class="code-ref" href="{html.escape(url)}">{code}</a>' if url else code


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.use(anchors_plugin, max_level=6)
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_inline", _code_inline)
    return md


_MD = _parser()


def render_markdown(
    text: str, *, link_rewriter: LinkRewriter | None = None, code_reference: CodeReferenceLinker | None = None
) -> str:
    """Sanitised HTML for one markdown page; `link_rewriter` maps each link's href (e.g. `.md` to `.html`),
    `code_reference` turns `path:line` code spans into links to those lines."""
    env: dict[str, Any] = {"code_reference": code_reference}
    tokens = _MD.parse(text, env)
    if link_rewriter is not None:
        for token in tokens:
            for child in token.children or ():
                if child.type == "link_open":
                    child.attrSet("href", link_rewriter(str(child.attrGet("href") or "")))
    return _CLEANER.clean(_MD.renderer.render(tokens, _MD.options, env))


def highlight_css(selector: str = ".highlight") -> str:
    """The stylesheet for the highlighted code `render_markdown` emits (`<pre class="highlight">`)."""
    return _FORMATTER.get_style_defs(selector)
