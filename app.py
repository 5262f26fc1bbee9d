"""Entry point: ``app = create_app()``; ``python app.py`` runs the development server.

The address is ``MEDIACRAFT_HOST`` and ``MEDIACRAFT_PORT`` (read by Config,
like every setting); production runs ``gunicorn -c gunicorn.conf.py app:app``.
"""

from __future__ import annotations

import signal
import sys

from mediacraft import create_app
from mediacraft.exceptions import StorageError

try:
    app = create_app()
except StorageError as exc:  # an unreachable or too new database: one line, no traceback
    print(f"mediacraft: {exc}", file=sys.stderr)
    sys.exit(3)  # gunicorn's "worker failed to boot": the arbiter stops instead of respawning


def _graceful_exit(signum: int, _frame: object) -> None:
    queue = app.extensions["mediacraft"].queue
    if queue is not None:
        queue.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _graceful_exit)
    config = app.config["MEDIACRAFT"]
    app.run(host=config.host, port=config.port, debug=False, threaded=True, use_reloader=False)
