"""``mediacraft serve``: the development server (production: gunicorn, see README)."""

from __future__ import annotations

import argparse
import signal
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the web app (development server)")
    parser.add_argument("--host", default=None, help="default MEDIACRAFT_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default MEDIACRAFT_PORT or 5000")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mediacraft import create_app
    from mediacraft.config import Config, ConfigError
    from mediacraft.exceptions import StorageError

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        config = Config.from_env(**overrides)  # the bind address is a trusted Host name
    except ConfigError as exc:
        print(f"mediacraft serve: error: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_app(config)
    except StorageError as exc:  # an unreachable or too new database: one line
        print(f"mediacraft serve: {exc}", file=sys.stderr)
        return 3

    def stop(_signum: int, _frame: object) -> None:
        queue = app.extensions["mediacraft"].queue
        if queue is not None:
            queue.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    app.run(host=config.host, port=config.port, threaded=True, use_reloader=False)
    return 0
