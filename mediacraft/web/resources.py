"""Where the templates and the translations are, installed or in a checkout.

The repository keeps ``templates/`` and ``translations/`` at its top level;
the wheel maps them into the package (``mediacraft/templates``,
``mediacraft/translations``, see ``pyproject.toml``). Both layouts are found
from the package's own location, never from the working directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
CHECKOUT_DIR = PACKAGE_DIR.parent  # the repository, when running from a checkout


def resource_dir(name: str) -> Path:
    """``name`` inside the installed package, else at the top of the checkout."""
    packaged = PACKAGE_DIR / name
    return packaged if packaged.is_dir() else CHECKOUT_DIR / name


__all__ = ["CHECKOUT_DIR", "PACKAGE_DIR", "resource_dir"]
