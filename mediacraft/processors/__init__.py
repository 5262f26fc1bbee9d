"""Processor registry: task type name -> processor instance."""

from __future__ import annotations

import importlib

from ..exceptions import ValidationError
from .base import JobContext, Processor

_REGISTRY: dict[str, Processor] = {}



def register(cls: type[Processor]) -> type[Processor]:
    """Class decorator: make ``cls`` the processor of ``cls.task_type``."""
    _REGISTRY[cls.task_type] = cls()
    return cls


def get_processor(task_type: str) -> Processor:
    try:
        return _REGISTRY[task_type]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ValidationError(
            f"Unknown task_type {task_type!r}; expected one of: {known}"
        ) from None


def task_types() -> list[str]:
    return sorted(_REGISTRY)


def load_processors(extra_modules: tuple[str, ...] = ()) -> None:
    """Register the built-in processors, then import the plugin modules (each registers its own)."""
    from . import download, merge, watermark  # noqa: F401  (importing registers them)

    for module in extra_modules:
        importlib.import_module(module)


__all__ = ["JobContext", "Processor", "get_processor", "load_processors", "register", "task_types"]
