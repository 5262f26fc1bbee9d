"""aria2c as an optional engine for direct files: its daemon, a guarded proxy, transfers."""

from __future__ import annotations

from .daemon import Aria2Daemon, Aria2Unavailable, daemon_for, find_binary
from .engine import direct_engine
from .proxy import GuardProxy, guard_proxy
from .transfer import Aria2Direct

__all__ = [
    "Aria2Daemon",
    "Aria2Direct",
    "Aria2Unavailable",
    "GuardProxy",
    "daemon_for",
    "direct_engine",
    "find_binary",
    "guard_proxy",
]
