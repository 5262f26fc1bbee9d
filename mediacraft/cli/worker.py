"""``mediacraft worker``: task threads only, no HTTP (web processes run with RUN_QUEUE=false).

A worker claims queued tasks from the shared storage, runs them, and on
SIGTERM or SIGINT interrupts them so they checkpoint and return to the
queue, as a web process with embedded task threads does. It lowers its own
CPU priority (``MEDIACRAFT_WORKER_NICE``, 10 by default) so that web
processes on the same machine answer first.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="run task threads only (no web server), against the configured storage"
    )
    parser.add_argument(
        "--threads", type=int, default=0,
        help="task threads (default MEDIACRAFT_WORKERS, else MEDIACRAFT_MAX_CONCURRENT_TASKS)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mediacraft.config import Config
    from mediacraft.exceptions import StorageError
    from mediacraft.logs import configure_logging
    from mediacraft.processors import load_processors
    from mediacraft.queue import TaskQueue
    from mediacraft.storage import open_storage

    overrides: dict[str, object] = {"run_queue": True}
    if args.threads:
        if args.threads < 1:
            print("mediacraft worker: --threads must be at least 1", file=sys.stderr)
            return 2
        overrides["workers"] = args.threads
    try:
        config = Config.from_env(**overrides)
    except ValueError as exc:
        print(f"mediacraft worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_format, config.node)
    if config.metrics:
        from mediacraft import metrics

        metrics.enable(config)  # counted here, served by this host's web processes
    load_processors(config.plugins)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        storage = open_storage(config)
    except StorageError as exc:
        print(f"mediacraft worker: {exc}", file=sys.stderr)
        return 3
    if config.worker_nice:
        # Task work is batch work: on a machine that also serves requests, the
        # kernel gives the web processes the CPU first (ffmpeg inherits this).
        os.nice(config.worker_nice)
    queue = TaskQueue(storage, config)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    queue.start()
    print(f"mediacraft worker {queue.worker['id']} running", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        queue.shutdown()
        storage.close()
    return 0
