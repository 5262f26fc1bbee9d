"""Run MediaCraft for real in a subprocess (gunicorn or ``python app.py``) on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """``gunicorn -c gunicorn.conf.py app:app`` in its own process group."""

    def __init__(self, data_dir: Path, workers: int = 2, **settings: object) -> None:
        self.data_dir = Path(data_dir)
        self.workers = workers
        self.settings = settings
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            MEDIACRAFT_DATA_DIR=str(self.data_dir),
            MEDIACRAFT_SECRET_KEY="server-test-secret-key-0123456789abcdef",
            MEDIACRAFT_PLUGINS="tests.support.sleeper",
            MEDIACRAFT_POLL_SECONDS="0.1",
            MEDIACRAFT_BIND=f"127.0.0.1:{self.port}",
            MEDIACRAFT_GUNICORN_WORKERS=str(self.workers),
            MEDIACRAFT_GUNICORN_GRACEFUL_TIMEOUT="10",
            MEDIACRAFT_ALLOWED_NETWORKS="127.0.0.1,::1,localhost",
        )
        for key, value in self.settings.items():
            name = "workers" if key == "threads_per_process" else key  # task threads
            env[f"MEDIACRAFT_{name.upper()}"] = str(value)
        return env

    def start(self, timeout: float = 30.0) -> AppServer:
        self.port = free_port()
        env = self.env()
        env["MEDIACRAFT_BIND"] = f"127.0.0.1:{self.port}"
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = open(self.log_path, "wb")  # owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """``kill -9`` the whole server (master and workers) at once."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM the master, as a service manager would; wait for a clean exit."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.terminate(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
