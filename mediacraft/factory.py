"""``create_app()``: builds the Flask app, its storage, queue and blueprints."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flask import Flask

from .config import Config
from .events import StreamLimiter
from .frameservice import FrameService
from .queue import TaskQueue
from .service import TaskService
from .storage import StorageInterface, open_storage

ROOT = Path(__file__).resolve().parent.parent
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
    from . import api, health, identity, security
    from .hosts import trusted_hosts
    from .httprequest import MediaCraftRequest
    from .logs import configure_logging
    from .processors import load_processors
    from .secrets import load_or_create_secret

    if isinstance(test_config, Config):
        config = test_config
    else:
        config = Config.from_env(**(test_config or {}))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config = replace(config, data_dir=config.data_dir.resolve())
    configure_logging(config.log_level, config.log_format, config.node)
    load_processors(config.plugins)

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(Path(__file__).parent / "static"),
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
    if config.metrics:
        from . import metrics

        metrics.init_app(app, config)
    _register_optional(app)

    if queue is not None:
        queue.start()
        _stop_queue_at_exit(queue)
    return app


def _register_optional(app: Flask) -> None:
    """Blueprints and extensions that live in their own modules (pages, i18n)."""
    import importlib

    for name in ("i18n", "web"):
        try:
            module = importlib.import_module(f"mediacraft.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mediacraft.{name}":
                raise
            continue
        module.init_app(app)


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
