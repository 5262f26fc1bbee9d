"""Production server settings: ``gunicorn -c gunicorn.conf.py app:app``.

Each worker process runs its own task queue; the limits hold across them
because claiming a task is an atomic step in storage. On SIGTERM (or any
worker exit) running tasks are interrupted, checkpoint, and return to the
queue for the next process to pick up.

Connections (gthread): a request occupies one of ``threads`` while it runs;
an idle keep-alive connection waits in the worker's poller without a thread,
up to ``worker_connections`` per process. Live event streams hold a thread for
as long as they are open, so the app caps them below ``threads`` (it learns
the number from ``MEDIACRAFT_GUNICORN_THREADS``, exported here). ``keepalive``
is long on purpose: a client that polls reuses its connection, and when the
server closes an idle one at the moment the client sends on it, that request
fails — the longer the idle allowance, the rarer that race (nginx uses 75 s).
"""

from __future__ import annotations

import os
import signal
import threading

bind = os.environ.get("MEDIACRAFT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("MEDIACRAFT_GUNICORN_WORKERS", "2"))
worker_class = "gthread"  # threads serve long-lived event streams without blocking polls
threads = int(os.environ.get("MEDIACRAFT_GUNICORN_THREADS", "64"))
os.environ["MEDIACRAFT_GUNICORN_THREADS"] = str(threads)  # read by the app in each worker
keepalive = int(os.environ.get("MEDIACRAFT_GUNICORN_KEEPALIVE", "75"))
worker_connections = int(os.environ.get("MEDIACRAFT_GUNICORN_CONNECTIONS", "1000"))
backlog = 2048
timeout = int(os.environ.get("MEDIACRAFT_GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("MEDIACRAFT_GUNICORN_GRACEFUL_TIMEOUT", "30"))
preload_app = False  # every worker builds its own app and queue
accesslog = os.environ.get("MEDIACRAFT_ACCESS_LOG") or None
limit_request_line = 8190


def _stop_queue(worker) -> None:  # noqa: ANN001 - gunicorn's Worker
    from mediacraft.events import STOPPING

    STOPPING.set()  # open event streams end now instead of holding the shutdown
    app = getattr(worker, "wsgi", None)
    extension = getattr(app, "extensions", {}).get("mediacraft") if app else None
    if extension is not None and extension.queue is not None:
        extension.queue.shutdown(timeout=max(1, graceful_timeout - 5))


def post_worker_init(worker) -> None:  # noqa: ANN001
    """On SIGTERM, interrupt running tasks at once, not after in-flight requests end."""
    original = worker.handle_exit

    def handle_exit(signum, frame) -> None:  # noqa: ANN001
        threading.Thread(target=_stop_queue, args=(worker,), daemon=True).start()
        original(signum, frame)

    signal.signal(signal.SIGTERM, handle_exit)
    from mediacraft.aria2.daemon import leave_running_at_exit

    leave_running_at_exit()  # the aria2c daemon is shared by the workers: on_exit stops it


def on_exit(server) -> None:  # noqa: ANN001
    """The server stops: so does the data directory's aria2c daemon, if one was started."""
    from mediacraft.aria2.daemon import stop_daemon_of
    from mediacraft.config import Config

    try:
        stop_daemon_of(Config.from_env().data_dir)
    except Exception as exc:  # a shutdown goes on whatever happens here
        server.log.warning("Could not stop aria2c: %s", exc)


def worker_exit(server, worker) -> None:  # noqa: ANN001
    _stop_queue(worker)


def worker_int(worker) -> None:  # noqa: ANN001
    _stop_queue(worker)
