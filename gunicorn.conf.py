"""Production server settings: ``gunicorn -c gunicorn.conf.py app:app``.

Each worker process runs its own task queue; the limits hold across them
because claiming a task is an atomic step in storage. On SIGTERM (or any
worker exit) running tasks are interrupted, checkpoint, and return to the
queue for the next process to pick up.

Connections (gthread): a request occupies one of ``threads`` while it runs;
an idle keep-alive connection waits in the worker's poller without a thread,
up to ``worker_connections`` per process. Live event streams hold a thread for
as long as they are open, so the app caps them below ``threads`` (each
worker's Config reads the same ``MEDIACRAFT_GUNICORN_THREADS``). ``keepalive``
is long on purpose: a client that polls reuses its connection, and when the
server closes an idle one at the moment the client sends on it, that request
fails — the longer the idle allowance, the rarer that race (nginx uses 75 s).

Every value comes from :class:`mediacraft.config.Config` (the
``MEDIACRAFT_*`` variables, README's table); a bad one stops the start with
the variable's name.
"""

from __future__ import annotations

import signal
import threading

from mediacraft.config import Config

_config = Config.from_env(run_queue=False)

bind = [address.strip() for address in _config.bind.split(",") if address.strip()]
workers = _config.gunicorn_workers
worker_class = "gthread"  # threads serve long-lived event streams without blocking polls
threads = _config.gunicorn_threads
keepalive = _config.gunicorn_keepalive
worker_connections = _config.gunicorn_connections
backlog = 2048
timeout = _config.gunicorn_timeout
graceful_timeout = _config.gunicorn_graceful_timeout
preload_app = False  # every worker builds its own app and queue
accesslog = _config.access_log or None
limit_request_line = 8190


def _stop_queue(worker) -> None:  # gunicorn's Worker
    from mediacraft.events import STOPPING

    STOPPING.set()  # open event streams end now instead of holding the shutdown
    app = getattr(worker, "wsgi", None)
    extension = getattr(app, "extensions", {}).get("mediacraft") if app else None
    if extension is not None and extension.queue is not None:
        extension.queue.shutdown(timeout=max(1, graceful_timeout - 5))


def post_worker_init(worker) -> None:
    """On SIGTERM, interrupt running tasks at once, not after in-flight requests end."""
    original = worker.handle_exit

    def handle_exit(signum, frame) -> None:
        threading.Thread(target=_stop_queue, args=(worker,), daemon=True).start()
        original(signum, frame)

    signal.signal(signal.SIGTERM, handle_exit)


def worker_exit(server, worker) -> None:
    _stop_queue(worker)


def worker_int(worker) -> None:
    _stop_queue(worker)
