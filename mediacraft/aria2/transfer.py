"""One direct file through aria2c: add, watch, cancel, resume.

The download's identity is a GID chosen here and kept in
``work_dir/aria2.json``; aria2c writes ``aria2.part`` and its control file
``aria2.part.aria2`` in ``work_dir``. Whatever happened meanwhile (the daemon
died and was restarted, the server restarted and this is the task's next
attempt), the transfer removes any download aria2c still holds under that GID
and adds it again with this process's guarded proxy: aria2c then continues
from the control file, fetching only the missing pieces.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aria2p
import requests

from ..download.fetch import Fetcher
from ..download.http import RemoteFile
from ..download.options import DownloadOptions
from ..download.tracker import Tracker
from ..exceptions import BlockedAddress, DownloadError
from ..progress import CancelToken, LogHook, ignore_log
from .daemon import Aria2Daemon
from .proxy import GuardProxy, Ticket, guard_proxy

PART_NAME = "aria2.part"
STATE_NAME = "aria2.json"
POLL_SECONDS = 0.1
STATUS_KEYS = ["gid", "status", "totalLength", "completedLength", "downloadSpeed",
               "connections", "errorCode", "errorMessage"]  # fmt: skip
GID_NOT_FOUND = 1  # aria2's JSON-RPC error code for an unknown GID


@dataclass
class Aria2Direct:
    """The direct-file step of :func:`mediacraft.download.download`, done by aria2c.

    ``connections`` is aria2's ``-x``/``-s``: connections to the server and
    pieces fetched at once.
    """

    daemon: Aria2Daemon
    options: DownloadOptions
    allowed_networks: Iterable[str] = ()
    log: LogHook = ignore_log
    proxy: GuardProxy | None = None

    def __call__(
        self,
        remote: RemoteFile,
        work_dir: Path,
        tracker: Tracker,
        cancel: CancelToken,
        fetcher: Fetcher | None = None,
    ) -> Path:
        return self.fetch(remote.url, work_dir, tracker, cancel, fetcher, size=remote.size)

    def fetch(
        self,
        url: str,
        work_dir: Path,
        tracker: Tracker,
        cancel: CancelToken,
        fetcher: Fetcher | None = None,
        *,
        size: int | None = None,
    ) -> Path:
        """Download ``url`` to ``work_dir/aria2.part``; returns that path when complete."""
        proxy = self.proxy or guard_proxy()
        ticket = proxy.ticket(tuple(self.allowed_networks))
        gid = _load_gid(work_dir) or secrets.token_hex(8)
        _save_gid(work_dir, gid, url)
        if size is not None and fetcher is not None:
            fetcher.budget.check(size)
        tracker.set_stage("downloading")
        try:
            self._attach(gid, url, work_dir, proxy, ticket)
            self.log(f"aria2c: downloading with up to {self._connections()} connections")
            while True:
                if cancel.is_set:
                    self._stop(gid, work_dir, remove_files=cancel.reason != "interrupted")
                    cancel.check()
                status = self._status(gid, url, work_dir, proxy, ticket)
                if status is None:
                    continue  # re-added after a restart of the daemon
                if self._progress(status, tracker, fetcher, gid, work_dir, ticket):
                    break
                cancel.event.wait(POLL_SECONDS)
        finally:
            proxy.release(ticket)
        self._forget(gid)
        (work_dir / STATE_NAME).unlink(missing_ok=True)
        (work_dir / f"{PART_NAME}.aria2").unlink(missing_ok=True)
        return work_dir / PART_NAME

    # --- steps ------------------------------------------------------------------
    def _connections(self) -> int:
        return max(1, min(16, self.options.connections))

    def _attach(
        self, gid: str, url: str, work_dir: Path, proxy: GuardProxy, ticket: Ticket
    ) -> None:
        """Go on with ``gid`` if aria2c holds it unfinished (its session brought it back
        after a restart), through this process's proxy; else add it (from the control file).
        """
        client = self.daemon.client()
        try:
            state = client.tell_status(gid, ["status"]).get("status")
        except aria2p.ClientException:
            state = None
        if state in ("active", "waiting", "paused"):
            client.change_option(gid, proxy.options(ticket))  # aria2c restarts its connections
            if state == "paused":
                client.unpause(gid)
            return
        self._add(gid, url, work_dir, proxy, ticket)

    def _add(
        self, gid: str, url: str, work_dir: Path, proxy: GuardProxy, ticket: Ticket
    ) -> None:
        client = self.daemon.client()
        self._forget(gid, client)
        count = str(self._connections())
        options: dict[str, Any] = {
            "gid": gid,
            "dir": str(work_dir),
            "out": PART_NAME,
            "continue": "true",
            "max-connection-per-server": count,
            "split": count,
            "min-split-size": "1M",
            "connect-timeout": str(max(1, int(self.options.connect_timeout))),
            "timeout": str(max(1, int(self.options.first_byte_timeout))),
            "max-tries": str(self.options.retries + 1),
            "retry-wait": str(max(0, int(self.options.retry_delay))),
            "user-agent": self.options.headers.get("User-Agent", "MediaCraft/0.1"),
            "header": [f"{k}: {v}" for k, v in self.options.headers.items()
                       if k.lower() != "user-agent"] + ["Accept-Encoding: identity"],
            **proxy.options(ticket),
        }  # fmt: skip
        if self.options.limit_rate:
            options["max-download-limit"] = str(self.options.limit_rate)
        client.add_uri([url], options)

    def _forget(
        self, gid: str, client: aria2p.Client | None = None, *, keep: bool = False
    ) -> None:
        """Remove ``gid`` from aria2c (its partial and control files stay).

        ``keep``: the next attempt resumes, so aria2c stops it gracefully and writes its
        control file as of now (a forced removal keeps the last periodic save only).
        """
        try:
            client = client or self.daemon.client()
            try:
                if keep:
                    client.remove(gid)
                else:
                    client.force_remove(gid)
                _wait_stopped(client, gid)
            except aria2p.ClientException:
                pass
            try:
                client.remove_download_result(gid)
            except aria2p.ClientException:
                pass
        except requests.RequestException:
            pass

    def _stop(self, gid: str, work_dir: Path, *, remove_files: bool) -> None:
        self._forget(gid, keep=not remove_files)
        if remove_files:
            for name in (PART_NAME, f"{PART_NAME}.aria2", STATE_NAME):
                (work_dir / name).unlink(missing_ok=True)

    def _status(
        self, gid: str, url: str, work_dir: Path, proxy: GuardProxy, ticket: Ticket
    ) -> dict[str, Any] | None:
        try:
            return self.daemon.client().tell_status(gid, STATUS_KEYS)
        except aria2p.ClientException as exc:
            if exc.code != GID_NOT_FOUND:
                raise DownloadError(f"aria2c refused the download: {exc.message}") from exc
        except requests.RequestException:
            self.daemon.ensure_running()  # it died: start it again (or attach to the new one)
        self.log("aria2c restarted: resuming the download from its control file")
        self._attach(gid, url, work_dir, proxy, ticket)
        return None

    def _progress(
        self,
        status: dict[str, Any],
        tracker: Tracker,
        fetcher: Fetcher | None,
        gid: str,
        work_dir: Path,
        ticket: Ticket,
    ) -> bool:
        """Report ``status``; True when the file is complete. Raises on failure."""
        total = int(status.get("totalLength") or 0) or None
        done = int(status.get("completedLength") or 0)
        with tracker._lock:
            tracker.bytes_total = total
            tracker.bytes_done = done
        tracker.connections = int(status.get("connections") or 0)
        if fetcher is not None:
            try:
                fetcher.budget.check(max(done, total or 0))
            except Exception:
                self._stop(gid, work_dir, remove_files=True)
                raise
        state = status.get("status")
        if state == "complete":
            tracker.emit(force=True)
            return True
        if state == "error":
            self._stop(gid, work_dir, remove_files=False)
            raise _failure(status, ticket)
        if state == "removed":
            raise DownloadError("aria2c removed the download")
        tracker.emit()
        return False


def _failure(status: dict[str, Any], ticket: Ticket) -> DownloadError:
    if ticket.refusals:  # the guard's own message says which address and why
        return BlockedAddress(ticket.refusals[-1])
    message = str(status.get("errorMessage") or "unknown error")
    return DownloadError(f"aria2c could not download the file: {message}")


def _wait_stopped(client: aria2p.Client, gid: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = client.tell_status(gid, ["status"]).get("status")
        except aria2p.ClientException:
            return
        if state in ("removed", "complete", "error"):
            return
        time.sleep(0.02)


def _load_gid(work_dir: Path) -> str | None:
    try:
        data = json.loads((work_dir / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    gid = data.get("gid") if isinstance(data, dict) else None
    if isinstance(gid, str) and len(gid) == 16 and all(c in "0123456789abcdef" for c in gid):
        return gid
    return None


def _save_gid(work_dir: Path, gid: str, url: str) -> None:
    from ..atomic import write_json_atomic

    write_json_atomic(work_dir / STATE_NAME, {"gid": gid, "url": url})


__all__ = ["PART_NAME", "Aria2Direct"]
