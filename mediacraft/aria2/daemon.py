"""The aria2c daemon: one per data directory and host, shared by every process.

Whoever needs aria2c first starts it; the others attach. ``data/aria2/``
holds (all mode 0600):

* ``aria2.conf``: the daemon's settings, with a secret generated at each start
  (a process learns it from ``daemon.json`` under the lock, never from argv,
  so ``ps`` does not show it);
* ``daemon.json``: pid, process start time, port and secret of the running daemon;
* ``session.txt``: aria2's own list of unfinished downloads, saved every second
  and read back when the daemon starts again;
* ``daemon.lock``: held while a process checks the daemon and, if it is gone or
  does not answer, starts a new one — so two gunicorn workers never start two.

Health: :meth:`Aria2Daemon.ensure_running` is called before every use and by
a watch thread every few seconds while downloads run; a daemon that died (or
stopped answering) is started again and the engine re-adds its downloads,
which resume from aria2's ``.aria2`` control files beside the partial files.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import aria2p
import requests
from filelock import FileLock, Timeout

from ..atomic import read_json, write_bytes_atomic, write_json_atomic
from ..exceptions import MediaCraftError
from ..liveness import process_alive, process_start

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0
RPC_TIMEOUT = 5.0
LOCK_TIMEOUT = 30.0
WATCH_INTERVAL = 2.0
# aria2c's own default proxy: a port nothing listens on, so a download that somehow
# lacks its per-download guarded proxy fails instead of connecting directly.
FAIL_CLOSED_PROXY = "http://127.0.0.1:9"


class Aria2Unavailable(MediaCraftError):
    """aria2c is missing or does not start; callers fall back to the built-in engine."""

    status = 503
    reason = "unavailable"


class _LoopbackClient(aria2p.Client):
    """aria2p's client without the environment's proxies: the RPC (and its secret) stays on
    loopback even when ``HTTP_PROXY`` is set for the server process."""

    def __init__(self, port: int, secret: str, timeout: float) -> None:
        super().__init__("http://127.0.0.1", port, secret, timeout=timeout)
        self._session = requests.Session()
        self._session.trust_env = False

    def post(self, payload: str) -> dict:
        with self._session.post(self.server, data=payload, timeout=self.timeout) as answer:
            return answer.json()


@dataclass(frozen=True)
class Endpoint:
    port: int
    secret: str
    pid: int

    def client(self, timeout: float = RPC_TIMEOUT) -> aria2p.Client:
        return _LoopbackClient(self.port, self.secret, timeout)


def find_binary(configured: str = "") -> str | None:
    """aria2c's path: ``MEDIACRAFT_ARIA2C`` when set (must be executable), else ``PATH``."""
    if configured:
        path = Path(configured)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which("aria2c")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_private(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
    os.chmod(path, 0o600)


class Aria2Daemon:
    """Starts, attaches to, watches and stops the data directory's aria2c."""

    def __init__(self, data_dir: Path, binary: str = "", *, max_downloads: int = 50) -> None:
        self.dir = Path(data_dir).resolve() / "aria2"
        self.configured_binary = binary
        self.max_downloads = max_downloads
        self._lock = FileLock(str(self.dir / "daemon.lock"), timeout=LOCK_TIMEOUT)
        self._endpoint: Endpoint | None = None
        self._process: subprocess.Popen[bytes] | None = None  # when this process started it
        self._guard = threading.Lock()
        self._watch: threading.Thread | None = None
        self._watch_stop = threading.Event()
        self.restarts = 0

    # --- files ----------------------------------------------------------------
    @property
    def conf_path(self) -> Path:
        return self.dir / "aria2.conf"

    @property
    def session_path(self) -> Path:
        return self.dir / "session.txt"

    @property
    def state_path(self) -> Path:
        return self.dir / "daemon.json"

    def _config_text(self, port: int, secret: str) -> str:
        lines = {
            "enable-rpc": "true",
            "rpc-listen-all": "false",
            "rpc-listen-port": str(port),
            "rpc-secret": secret,
            "save-session": str(self.session_path),
            "save-session-interval": "1",
            "continue": "true",
            "always-resume": "true",
            "auto-save-interval": "1",  # control files at most a second stale after a kill -9
            "disk-cache": "0",  # ... and describing bytes on disk, not in a cache a kill loses
            "auto-file-renaming": "false",
            "allow-overwrite": "false",
            "remote-time": "false",
            "follow-torrent": "false",  # a .torrent or .metalink answer is a file, not a plan
            "follow-metalink": "false",
            "enable-dht": "false",
            "enable-dht6": "false",
            "bt-enable-lpd": "false",
            "enable-peer-exchange": "false",
            "check-certificate": "true",
            "file-allocation": "none",
            "max-concurrent-downloads": str(self.max_downloads),
            # the per-protocol options (and aria2c's http_proxy, https_proxy, ... environment
            # variables, which these override) would win over all-proxy: all fail closed
            "all-proxy": FAIL_CLOSED_PROXY,
            "http-proxy": FAIL_CLOSED_PROXY,
            "https-proxy": FAIL_CLOSED_PROXY,
            "ftp-proxy": FAIL_CLOSED_PROXY,
            "console-log-level": "warn",
            "summary-interval": "0",
            "quiet": "true",
        }
        if self.session_path.exists():
            lines["input-file"] = str(self.session_path)
        return "".join(f"{key}={value}\n" for key, value in lines.items())

    def _read_state(self) -> Endpoint | None:
        try:
            data = read_json(self.state_path)
            pid, started = int(data["pid"]), data.get("started")
            endpoint = Endpoint(int(data["port"]), str(data["secret"]), pid)
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        if not process_alive(pid, started if isinstance(started, str) else None):
            return None
        return endpoint

    # --- life cycle -------------------------------------------------------------
    def ensure_running(self) -> Endpoint:
        """The running daemon's endpoint; starts one (under the lock) when none answers."""
        endpoint = self._endpoint
        if endpoint is not None and self._answers(endpoint):
            return endpoint
        with self._guard:
            self.dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.dir, 0o700)
            try:
                with self._lock:
                    endpoint = self._read_state()
                    if endpoint is not None and self._answers(endpoint):
                        self._endpoint = endpoint
                        return endpoint
                    if endpoint is not None:  # alive but deaf: replace it
                        _terminate(endpoint.pid)
                    if self._endpoint is not None or self.state_path.exists():
                        self.restarts += 1
                        log.warning("aria2c is not running; starting it again")
                    self._endpoint = self._start()
                    return self._endpoint
            except Timeout as exc:
                raise Aria2Unavailable("Timed out waiting for the aria2c lock") from exc

    def _start(self) -> Endpoint:
        binary = find_binary(self.configured_binary)
        if binary is None:
            where = self.configured_binary or "PATH"
            raise Aria2Unavailable(f"aria2c was not found ({where})")
        if self._process is not None:  # the one this process started is gone or deaf
            if self._process.poll() is None:
                _terminate(self._process.pid)
            self._process.wait(timeout=5)
            self._process = None
        last_error = ""
        for _attempt in range(3):  # the free port may be taken before aria2c binds it
            port, secret = _free_port(), secrets.token_urlsafe(24)
            _write_private(self.conf_path, self._config_text(port, secret))
            if self.session_path.exists():
                os.chmod(self.session_path, 0o600)
            with open(self.dir / "aria2c.log", "ab") as errors:
                os.chmod(self.dir / "aria2c.log", 0o600)
                process = subprocess.Popen(
                    [binary, f"--conf-path={self.conf_path}"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    start_new_session=True,  # the terminal's Ctrl-C is the app's to handle
                )
            endpoint = Endpoint(port, secret, process.pid)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and process.poll() is None:
                if self._answers(endpoint):
                    write_json_atomic(
                        self.state_path,
                        {"pid": process.pid, "started": process_start(process.pid),
                         "port": port, "secret": secret, "binary": binary},
                    )  # fmt: skip
                    os.chmod(self.state_path, 0o600)
                    if self.session_path.exists():
                        os.chmod(self.session_path, 0o600)
                    self._process = process
                    log.info("aria2c started (pid %s, port %s)", process.pid, port)
                    return endpoint
                time.sleep(0.05)
            last_error = f"exit code {process.poll()}" if process.poll() is not None else "timeout"
            _terminate(process.pid)
            process.wait(timeout=5)
        raise Aria2Unavailable(f"aria2c did not start ({last_error})")

    @staticmethod
    def _answers(endpoint: Endpoint) -> bool:
        try:
            endpoint.client(timeout=2.0).get_version()
        except (requests.RequestException, aria2p.ClientException, ValueError):
            return False
        return True

    def client(self) -> aria2p.Client:
        return self.ensure_running().client()

    def stop(self) -> None:
        """Stop the daemon (whoever started it) and forget it."""
        self.stop_watch()
        with self._guard:
            endpoint = self._read_state() or self._endpoint
            self._endpoint = None
            if endpoint is not None:
                try:
                    endpoint.client(timeout=2.0).shutdown()
                except (requests.RequestException, aria2p.ClientException, ValueError):
                    pass
                _wait_gone(endpoint.pid, 5.0) or _terminate(endpoint.pid)
            if self._process is not None:
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                self._process = None
            self.state_path.unlink(missing_ok=True)

    # --- watching ---------------------------------------------------------------
    def start_watch(self, interval: float = WATCH_INTERVAL) -> None:
        """Check the daemon every ``interval`` seconds and start it again if it died."""
        with self._guard:
            if self._watch is not None and self._watch.is_alive():
                return
            self._watch_stop.clear()
            self._watch = threading.Thread(
                target=self._watch_loop, args=(interval,), name="aria2-watch", daemon=True
            )
            self._watch.start()

    def stop_watch(self) -> None:
        self._watch_stop.set()

    def _watch_loop(self, interval: float) -> None:
        while not self._watch_stop.wait(interval):
            if self._process is not None:
                self._process.poll()  # reap our own child so its pid reads as gone
            try:
                self.ensure_running()
            except MediaCraftError as exc:
                log.warning("aria2c health check: %s", exc.message)


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    if not _wait_gone(pid, 3.0):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)  # reaps it when it is our child
        except ChildProcessError:
            pass
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return not process_alive(pid)


_daemons: dict[Path, Aria2Daemon] = {}
_daemons_guard = threading.Lock()


def daemon_for(data_dir: Path, binary: str = "") -> Aria2Daemon:
    """This process's handle on the data directory's daemon (one object per directory)."""
    key = Path(data_dir).resolve()
    with _daemons_guard:
        daemon = _daemons.get(key)
        if daemon is None:
            daemon = _daemons[key] = Aria2Daemon(key, binary)
        return daemon


_stop_at_exit = [True]


def leave_running_at_exit() -> None:
    """A gunicorn worker's daemon outlives the worker: the master stops it (``on_exit``)."""
    _stop_at_exit[0] = False


def stop_started_daemons() -> None:
    """At exit: stop the daemons this process started (the app's shutdown)."""
    if not _stop_at_exit[0]:
        return
    with _daemons_guard:
        daemons = list(_daemons.values())
    for daemon in daemons:
        if daemon._process is not None:
            daemon.stop()


atexit.register(stop_started_daemons)

def stop_daemon_of(data_dir: Path) -> None:
    """Stop the data directory's daemon if one runs (the app's shutdown, any process)."""
    state = Path(data_dir).resolve() / "aria2" / "daemon.json"
    if state.exists():
        daemon_for(data_dir).stop()


__all__ = [
    "Aria2Daemon",
    "Aria2Unavailable",
    "Endpoint",
    "daemon_for",
    "find_binary",
    "leave_running_at_exit",
    "stop_daemon_of",
]
