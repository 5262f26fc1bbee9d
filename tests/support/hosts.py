"""Several "hosts" on one machine: web servers and ``mediacraft worker`` processes that
share one PostgreSQL database and one data directory, each with its own node id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.server import ROOT, AppServer
from tests.support.waiting import wait_for


def host_settings(dsn: str, node: str, **settings: object) -> dict[str, object]:
    return {"storage": dsn, "node_id": node, **settings}


class WebServer(AppServer):
    """gunicorn serving requests only (``MEDIACRAFT_RUN_QUEUE=false``)."""

    def __init__(self, data_dir: Path, dsn: str, node: str, **settings: object) -> None:
        super().__init__(data_dir, workers=2, **host_settings(dsn, node, run_queue="false",
                                                              **settings))  # fmt: skip


class WorkerProcess:
    """``mediacraft worker`` in its own process group, logging to a file."""

    def __init__(self, data_dir: Path, dsn: str, node: str, threads: int = 2,
                 **settings: object) -> None:  # fmt: skip
        self.data_dir = Path(data_dir)
        self.node = node
        self.threads = threads
        self.settings = host_settings(dsn, node, **settings)
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"worker-{node}.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            MEDIACRAFT_DATA_DIR=str(self.data_dir),
            MEDIACRAFT_PLUGINS="tests.support.sleeper",
            MEDIACRAFT_POLL_SECONDS="1",
            MEDIACRAFT_ALLOWED_NETWORKS="127.0.0.1,::1,localhost",
        )
        for key, value in self.settings.items():
            env[f"MEDIACRAFT_{key.upper()}"] = str(value)
        return env

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mediacraft.cli", "worker", "--threads", str(self.threads)],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_for(lambda: "running" in self.log() or self.proc.poll() is not None,
                 timeout=30, what=f"worker {self.node} to start")  # fmt: skip
        assert self.proc.poll() is None, self.log()
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.terminate(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
