"""A visitor's disk quota: what they store, and what their uploads in flight have reserved.

Usage is measured on disk (the visitor's uploads and results). An upload
reserves its size *before* its body is read, under a per-visitor lock, so two
uploads at once (or a chunked one that announces no length) cannot both fit
in the same free space: the second sees the first's reservation. A
reservation ends when its upload has been stored (the bytes are then on disk
and counted there) or has failed.

Reservations live in ``data/quota/{user_id}.json`` (removed when the last one
ends), each with the process that made it; one left by a killed process is
dropped as soon as that process is gone (same machine) or after
:data:`RESERVATION_TTL` (another machine). The locks are striped like the
storage's (``data/locks/quota/NN.lock``), so none is ever left per visitor;
with PostgreSQL storage (a data directory shared by hosts, where file locks
are not to be trusted) the lock is a database advisory lock instead.

:func:`remaining` is what any writer (an upload, a download) may still add.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from .atomic import read_json, write_json_atomic
from .config import Config
from .exceptions import NotFound, QuotaExceeded, RateLimited, StorageError
from .liveness import process_alive, same_machine, this_process
from .model import is_uuid
from .paths import dir_size

MiB = 1024 * 1024
RESERVATION_TTL = 6 * 3600.0  # an upload from another machine that never ended
LOCK_TIMEOUT = 30.0

_locks: dict[str, FileLock] = {}
_locks_guard = threading.Lock()


def usage(config: Config, user_id: str) -> int:
    """Bytes the visitor's uploads and results take on disk."""
    return sum(dir_size(config.data_dir / kind / user_id) for kind in ("uploads", "results"))


def quota_bytes(config: Config) -> int:
    return config.user_quota_mb * MiB


def remaining(config: Config, user_id: str) -> int:
    """Bytes the visitor may still write: the quota minus usage and live reservations."""
    reservations = _live(_load(config, user_id))  # the ledger is replaced atomically
    held = sum(int(r["bytes"]) for r in reservations)
    return max(0, quota_bytes(config) - usage(config, user_id) - held)


@dataclass
class Reservation:
    config: Config
    user_id: str
    reservation_id: str
    nbytes: int
    released: bool = field(default=False)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        with _locked(self.config, self.user_id):
            entries = [
                r
                for r in _live(_load(self.config, self.user_id))
                if r["id"] != self.reservation_id
            ]
            _store(self.config, self.user_id, entries)


def reserve(config: Config, user_id: str, nbytes: int) -> Reservation:
    """Reserve ``nbytes`` of the visitor's quota, or refuse.

    :class:`QuotaExceeded` (413) when usage, live reservations and ``nbytes``
    together pass the quota; :class:`RateLimited` (429) when the visitor
    already has ``MAX_UPLOADS_PER_USER`` uploads in flight.
    """
    if not is_uuid(user_id):
        raise NotFound("User not found")
    with _locked(config, user_id):
        entries = _live(_load(config, user_id))
        if len(entries) >= config.max_uploads_per_user:
            raise RateLimited(
                f"You already have {len(entries)} uploads in progress; "
                "wait for them to finish before starting another"
            )
        held = sum(int(r["bytes"]) for r in entries)
        used = usage(config, user_id)
        if used + held + nbytes > quota_bytes(config):
            free = max(0, quota_bytes(config) - used - held)
            raise QuotaExceeded(
                f"Your storage quota of {config.user_quota_mb} MB is used up "
                f"({free // MiB} MB free, this upload needs {-(-nbytes // MiB)} MB); "
                "delete old tasks"
            )
        reservation = Reservation(config, user_id, uuid.uuid4().hex, nbytes)
        entries.append(
            {"id": reservation.reservation_id, "bytes": nbytes, "at": time.time(), **this_process()}
        )
        _store(config, user_id, entries)
    return reservation


@contextmanager
def reserved(config: Config, user_id: str, nbytes: int) -> Iterator[Reservation]:
    reservation = reserve(config, user_id, nbytes)
    try:
        yield reservation
    finally:
        reservation.release()


def _path(config: Config, user_id: str) -> Path:
    return config.data_dir / "quota" / f"{user_id}.json"


def _load(config: Config, user_id: str) -> list[dict]:
    try:
        data = read_json(_path(config, user_id))
    except FileNotFoundError:
        return []
    except ValueError:
        return []  # a damaged ledger only held reservations: start over
    entries = data.get("reservations") if isinstance(data, dict) else None
    return [e for e in entries or [] if isinstance(e, dict) and "id" in e and "bytes" in e]


def _store(config: Config, user_id: str, entries: list[dict]) -> None:
    path = _path(config, user_id)
    if not entries:
        path.unlink(missing_ok=True)
        return
    try:
        write_json_atomic(path, {"reservations": entries})
    except OSError as exc:
        from .diskspace import storage_failure

        raise storage_failure(exc) or StorageError(f"Could not save the quota: {exc}") from exc


def _live(entries: list[dict]) -> list[dict]:
    """The reservations whose upload may still be running."""
    now = time.time()
    alive = []
    for entry in entries:
        pid = entry.get("pid")
        if same_machine(entry) and isinstance(pid, int):
            started = entry.get("started")
            if not process_alive(pid, started if isinstance(started, str) else None):
                continue
        elif now - float(entry.get("at") or 0) > RESERVATION_TTL:
            continue
        alive.append(entry)
    return alive


@contextmanager
def _locked(config: Config, user_id: str) -> Iterator[None]:
    if config.database_dsn:  # a shared data directory: no file locks there
        from .storage.pglocks import advisory_lock

        with advisory_lock(config.database_dsn, f"quota:{user_id}", LOCK_TIMEOUT):
            yield
        return
    path = config.data_dir / "locks" / "quota" / f"{user_id[:2]}.lock"
    key = str(path)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = _locks[key] = FileLock(key, timeout=LOCK_TIMEOUT)
    try:
        with lock:
            yield
    except Timeout as exc:
        raise StorageError("Timed out waiting for the quota lock") from exc


__all__ = ["Reservation", "quota_bytes", "remaining", "reserve", "reserved", "usage"]

