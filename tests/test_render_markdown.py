"""render_markdown: course markdown to safe HTML (model output is untrusted)."""

from __future__ import annotations

import pytest

from fondation.render import highlight_css, render_markdown


def test_headings_get_anchor_ids() -> None:
    html = render_markdown("# Chapter 1: The job table\n\n## How it works\n")
    assert '<h1 id="chapter-1-the-job-table">Chapter 1: The job table</h1>' in html
    assert '<h2 id="how-it-works">How it works</h2>' in html


def test_code_is_highlighted_on_the_server() -> None:
    html = render_markdown("```python\ndef claim(job):\n    return job\n```\n")
    assert '<pre class="highlight"><code class="language-python">' in html
    assert '<span class="k">def</span>' in html
    assert ".highlight .k" in highlight_css()


@pytest.mark.parametrize("language", ["ts", "typescript", "bash", "sql"])
def test_common_languages_are_highlighted(language: str) -> None:
    assert "<span class=" in render_markdown(f"```{language}\nlet x = 1;\n```\n")


def test_unknown_language_is_escaped_not_highlighted() -> None:
    html = render_markdown("```klingon\n<b>qapla'</b>\n```\n")
    assert '<code class="language-klingon">&lt;b&gt;qapla\'&lt;/b&gt;\n</code>' in html


def test_mermaid_blocks_keep_their_escaped_source() -> None:
    html = render_markdown('```mermaid\ngraph TD\n  A["<b>x</b>"] --> B\n```\n')
    assert '<pre class="mermaid">graph TD\n  A["&lt;b&gt;x&lt;/b&gt;"] --&gt; B\n</pre>' in html
    assert "<span" not in html


def test_tables_and_strikethrough() -> None:
    html = render_markdown("| a | b |\n|--:|---|\n| 1 | ~~2~~ |\n")
    assert '<td style="text-align:right">1</td>' in html
    assert "<s>2</s>" in html


def test_link_rewriter_sees_every_link() -> None:
    seen: list[str] = []

    def rewrite(href: str) -> str:
        seen.append(href)
        return href.replace(".md", ".html")

    html = render_markdown("[a](02-next.md#part) and [b](https://example.org/x.md)", link_rewriter=rewrite)
    assert seen == ["02-next.md#part", "https://example.org/x.md"]
    assert 'href="02-next.html#part"' in html


@pytest.mark.parametrize(
    ("markdown", "forbidden"),
    [
        ("<script>window.__xss = 1</script>", "__xss"),
        ("<style>body { display: none }</style>", "display"),
        ('<img src=x onerror="alert(1)">', "onerror"),
        ("[click](javascript:alert(1))", 'href="javascript'),
        ('<a href="javascript:alert(1)">raw</a>', "javascript:"),
        ('<a href="JaVaScRiPt:alert(1)">mixed case</a>', "alert"),
        ('<img src="data:image/svg+xml,<svg onload=alert(1)>">', "data:"),
        ('<div onclick="alert(1)">x</div>', "onclick"),
        ("<iframe src=https://example.org></iframe>", "iframe"),
        ('<form action="https://example.org"><input name=x></form>', "<form"),
    ],
)
def test_untrusted_html_is_sanitised(markdown: str, forbidden: str) -> None:
    assert forbidden not in render_markdown(markdown)


def test_safe_html_and_urls_survive() -> None:
    html = render_markdown(
        '<details><summary>More</summary>text</details>\n\n<kbd>Ctrl</kbd> <img src="img/a.png" alt="a">'
        " [web](https://example.org) [here](#part) [up](../index.md)"
    )
    for kept in ("<details>", "<summary>More</summary>", "<kbd>Ctrl</kbd>", 'src="img/a.png"'):
        assert kept in html
    for href in ("https://example.org", "#part", "../index.md"):
        assert f'href="{href}"' in html
