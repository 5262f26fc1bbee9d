"""Which engine fetches direct files: the built-in one or aria2c (``MEDIACRAFT_DOWNLOAD_ENGINE``).

``builtin`` (the default) never touches aria2c. ``aria2`` and ``auto`` use it
when it is installed and starts; otherwise the download goes on with the
built-in engine and says so in the log (``aria2`` is a wish, not a reason to
fail a visitor's task). The choice is the server's: no task option selects
an engine. HLS playlists always stay with the built-in engine, which knows
segments, keys and renditions; aria2c gets what it is good at, one big file
over several connections.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from ..download.engine import DirectFetch
from ..download.options import DownloadOptions
from ..exceptions import MediaCraftError
from ..progress import LogHook, ignore_log
from .daemon import daemon_for, find_binary
from .transfer import Aria2Direct

log = logging.getLogger(__name__)


def direct_engine(
    engine: str,
    data_dir: Path,
    options: DownloadOptions,
    *,
    binary: str = "",
    allowed_networks: Iterable[str] = (),
    task_log: LogHook = ignore_log,
) -> DirectFetch | None:
    """The direct-file fetcher for ``engine``, or None for the built-in engine.

    Starts (or attaches to) the data directory's aria2c daemon; when that
    fails, logs why and answers None so the caller uses the built-in engine.
    """
    if engine == "builtin":
        return None
    if find_binary(binary) is None:
        _fallback(f"aria2c was not found ({binary or 'PATH'})", task_log)
        return None
    daemon = daemon_for(data_dir, binary)
    try:
        daemon.ensure_running()
    except MediaCraftError as exc:
        _fallback(exc.message, task_log)
        return None
    daemon.start_watch()
    return Aria2Direct(daemon, options, tuple(allowed_networks), task_log)


def _fallback(why: str, task_log: LogHook) -> None:
    line = f"aria2 engine unavailable ({why}); using the built-in engine"
    log.warning(line)
    task_log(line)


__all__ = ["direct_engine"]
