"""The third-party browser files Fondation ships (mermaid, htmx), fetched by `make assets`.

They come from npm at the versions pinned in package.json (scripts/fetch-assets.sh) and are not
committed, so code that needs one asks here and gets an error naming the fix instead of a broken page.
"""

from __future__ import annotations

from pathlib import Path

from fondation.domain.errors import FondationError

VENDOR_DIR = Path(__file__).parent / "vendor"


class MissingAssetError(FondationError):
    """A vendored browser asset is missing: `make assets` has not run on this checkout."""


def vendored_asset(name: str) -> Path:
    """The path of a vendored asset such as "mermaid.min.js", or MissingAssetError naming `make assets`."""
    path = VENDOR_DIR / name
    if not path.is_file():
        raise MissingAssetError(f"{path} is missing: run `make assets` (it fetches mermaid and htmx from npm)")
    return path
