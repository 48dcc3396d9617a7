"""Rendering a course: markdown to safe HTML, the offline static site, zip exports, diagram checks.

Kept apart from course generation so the web app's course viewer can reuse the same renderer.
"""

from fondation.render.archive import zip_directory
from fondation.render.markdown import LinkRewriter, highlight_css, render_markdown
from fondation.render.mermaid_check import check_mermaid
from fondation.render.site import render_site
from fondation.render.vendor import MissingAssetError, vendored_asset

__all__ = [
    "LinkRewriter",
    "MissingAssetError",
    "check_mermaid",
    "highlight_css",
    "render_markdown",
    "render_site",
    "vendored_asset",
    "zip_directory",
]
