"""Package re-exports imported on first use (a module ``__getattr__``, PEP 562).

A package whose ``__init__`` only re-exports would otherwise import every
module it names, heavy ones included (PyAV, requests), for a caller that
needs one light name. Each name is imported from its home module the first
time it is asked for, then kept in the package's namespace.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` for ``package``: ``homes`` maps a public name to the module
    (relative to the package) that defines it."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{home}", package), name)
        namespace[name] = value
        return value

    return __getattr__


__all__ = ["lazy_exports"]
