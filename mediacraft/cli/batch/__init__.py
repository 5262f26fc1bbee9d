"""``mediacraft batch`` and the engine behind it.

``command`` is the subcommand (its parser, and :func:`~.command.run_batch`);
``options`` the typed :class:`~.options.BatchOptions` it is driven by;
``inputs`` reads the lists and plans each item; ``runner`` runs them with the
checkpoint; ``display`` and ``report`` show progress and the outcome.
"""

from __future__ import annotations

from .command import register, run, run_batch
from .options import BatchOptions, UsageError

__all__ = ["BatchOptions", "UsageError", "register", "run", "run_batch"]
