"""``create_app()``: builds the Flask app, its storage, queue and blueprints."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Any

from flask import Flask

from .. import api
from ..config import Config
from ..download import politeness
from ..events import StreamLimiter
from ..frameservice import FrameService
from ..logs import configure_logging
from ..processors import load_processors
from ..queue import TaskQueue
from ..service import TaskService
from ..storage import StorageInterface, open_storage
from . import health, i18n, identity, pages, pagestrings, security
from .hosts import trusted_hosts
from .request import MediaCraftRequest
from .resources import PACKAGE_DIR, resource_dir
from .secret_key import load_or_create_secret

log = logging.getLogger(__name__)


@dataclass
class MediaCraft:
    """What the app's views reach through ``current_app.extensions["mediacraft"]``."""

    config: Config
    storage: StorageInterface
    service: TaskService
    queue: TaskQueue | None
    frames: FrameService | None = None
    streams: StreamLimiter | None = None


def create_app(test_config: Config | dict[str, Any] | None = None) -> Flask:
    """Build the app. ``test_config`` is a Config or overrides of its fields."""
    if isinstance(test_config, Config):
        config = test_config
    else:
        config = Config.from_env(**(test_config or {}))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config = replace(config, data_dir=config.data_dir.resolve())
    configure_logging(config.log_level, config.log_format, config.node)
    load_processors(config.plugins)
    politeness.configure(config.per_host_connections)  # shared by the process's downloads

    app = Flask(
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder=str(PACKAGE_DIR / "static"),
    )
    app.request_class = MediaCraftRequest
    app.secret_key = load_or_create_secret(config.data_dir, config.secret_key)
    app.config.update(
        MEDIACRAFT=config,
        MAX_CONTENT_LENGTH=config.max_upload_bytes + 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        MAX_FORM_PARTS=100,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]

    storage = open_storage(config)
    queue = TaskQueue(storage, config) if config.run_queue else None
    service = TaskService(storage, config, queue)
    app.extensions["mediacraft"] = MediaCraft(
        config, storage, service, queue, FrameService(config), StreamLimiter(config)
    )

    security.init_app(app, trusted_hosts(config))
    identity.Identity(app)
    api.init_app(app)
    app.register_blueprint(health.bp)
    i18n.init_app(app, config.data_dir)
    pages.init_app(app)
    pagestrings.init_app(app)
    if config.metrics:
        from .. import metrics

        metrics.init_app(app, config)

    if queue is not None:
        queue.start()
        _stop_queue_at_exit(queue)
    return app


def _stop_queue_at_exit(queue: TaskQueue) -> None:
    """Interrupt running tasks before the interpreter joins worker threads.

    ThreadPoolExecutor joins its threads at exit through threading's atexit
    list, which runs in reverse order of registration: registering after the
    executor makes this run first, so tasks checkpoint and return to the queue
    instead of holding the exit until they finish.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        try:
            register(queue.shutdown)
            return
        except RuntimeError:
            pass
    import atexit

    atexit.register(queue.shutdown)


__all__ = ["Config", "MediaCraft", "create_app"]
