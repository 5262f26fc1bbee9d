"""``mediacraft serve``: the development server (production: gunicorn, see README)."""

from __future__ import annotations

import argparse
import signal
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the web app (development server)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from mediacraft import create_app
    from mediacraft.exceptions import StorageError

    os.environ["MEDIACRAFT_HOST"] = args.host  # the bind address is a trusted Host name
    try:
        app = create_app()
    except StorageError as exc:
        print(f"mediacraft serve: {exc}", file=sys.stderr)
        return 3

    def stop(_signum: int, _frame: object) -> None:
        queue = app.extensions["mediacraft"].queue
        if queue is not None:
            queue.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0
