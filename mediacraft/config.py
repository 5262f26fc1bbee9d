"""Configuration from ``MEDIACRAFT_*`` environment variables, with defaults.

Every ``MEDIACRAFT_*`` variable is read here and nowhere else: the app, the
command line and ``gunicorn.conf.py`` all build a :class:`Config`. Each field
``name`` is the variable ``MEDIACRAFT_<NAME>``; the variable names are a
public contract, and every one is documented in README.md with its default
(a test checks both). A value that does not parse or is out of range raises
:class:`ConfigError` naming the variable, so a bad setting stops the start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

PREFIX = "MEDIACRAFT_"
PROXY_SCHEMES = ("http://", "https://", "socks4://", "socks5://", "socks5h://")
ENGINES = ("builtin", "aria2", "auto")  # MEDIACRAFT_DOWNLOAD_ENGINE
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names its variable."""


def _parse_bool(value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean")


def _parse_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Config:
    """Settings of one MediaCraft installation (one data directory)."""

    data_dir: Path = Path("data")
    secret_key: str = ""  # empty: generated once and kept in data_dir
    max_tasks_per_user: int = 1
    max_concurrent_tasks: int = 5
    max_queued_per_user: int = 20
    max_queued_total: int = 500
    max_attempts: int = 3
    max_upload_mb: int = 2048
    allowed_networks: tuple[str, ...] = ()
    retention_days: int = 7
    cookie_secure: bool = False
    storage: str = "file"  # "file" (JSON files), "sqlite", or a postgresql:// URL
    database_url: str = ""  # a postgresql:// URL: the same as naming it in storage
    db_pool_min: int = 1  # PostgreSQL connections each process keeps open
    db_pool_max: int = 10  # ... and opens at most
    db_pool_timeout: float = 10.0  # seconds a request waits for a free connection (then 503)
    migrate_on_start: bool = True  # apply pending schema migrations when a process starts
    node_id: str = ""  # this host's name in task records; empty: the host name
    worker_nice: int = 10  # CPU niceness `mediacraft worker` adds to itself (0: none)
    metrics: bool = False  # serve GET /metrics (Prometheus text format)
    metrics_token: str = ""  # the bearer token /metrics asks for (required when metrics on)
    metrics_dir: str = ""  # this host's per-process metric files; empty: one in $TMPDIR
    log_format: str = "text"  # "text" or "json" (one JSON object a line)
    workers: int = 0  # executor threads per process; 0 means max_concurrent_tasks
    heartbeat_seconds: float = 5.0  # how often a running task proves it is alive
    stale_after_seconds: float = 30.0  # a heartbeat older than this is a dead worker
    poll_seconds: float = 1.0  # how often an idle worker looks for queued tasks
    user_quota_mb: int = 20480  # disk a visitor's uploads and results may use
    max_clips: int = 20
    log_level: str = "INFO"
    per_host_connections: int = 16  # concurrent requests to one origin host
    max_download_mb: int = 20480  # bytes one download may fetch
    max_playlist_kb: int = 8192  # size of one HLS playlist
    max_segments: int = 50_000  # segments of one media playlist
    max_record_seconds: int = 14_400  # longest live recording (keep below the download time limit)
    max_download_threads: int = 32  # concurrent segment fetches one download may ask for
    min_limit_rate_kb: int = 256  # the lowest limit_rate a visitor may set (KiB/s)
    lowest_speed_kb: int = 10  # a download slower than this on average fails (KiB/s; 0: off)
    lowest_speed_seconds: int = 60  # ... measured over this window
    extractors: str = "all"  # videos on web pages by yt-dlp's extractors: all | generic | off
    extraction_seconds: int = 60  # longest look for the video on one page
    proxy: str = ""  # outbound proxy of every download (http://, https://, socks5://, socks5h://)
    run_queue: bool = True  # run task workers in this process (off for admin commands)
    plugins: tuple[str, ...] = ()  # extra processor modules to import (tests use this)
    # --- what one visitor may hold (hostile visitors; see docs/abuse.md)
    max_unfinished_per_user: int = 40  # tasks not yet ended (created … processing)
    max_stored_tasks_per_user: int = 1000  # tasks kept at all, ended ones included
    unfinished_ttl_hours: float = 24.0  # created/uploaded tasks older than this expire
    max_uploads_per_user: int = 2  # uploads of one visitor in flight at once
    max_event_streams: int = 0  # open event streams per process; 0: from the server's threads
    max_event_streams_per_user: int = 2  # per visitor and process
    frames_per_minute: int = 120  # frame extractions per visitor and process
    frame_seconds: float = 10.0  # time limit of one frame extraction
    frame_cache_mb: int = 64  # recently extracted frames kept per process
    restore_memory_mb: int = 512  # frames one watermark restoration keeps decoded at once
    # --- decoding budgets of an upload
    max_video_pixels: int = 7680 * 4320  # width x height of one frame (8K)
    max_video_streams: int = 16
    max_video_frames: int = 10_000_000
    # --- every task ends; the disk is watched
    max_task_seconds: int = 6 * 3600  # one attempt of any task
    processing_time_factor: float = 10.0  # watermark/merge: seconds per second of input
    min_free_mb: int = 512  # below: /healthz 503, no new task starts, uploads refused
    # --- the aria2 engine for direct files
    download_engine: str = "builtin"  # builtin | aria2 | auto (aria2 when it starts)
    aria2c: str = ""  # path of the aria2c binary; empty: found on PATH
    # --- the HTTP server
    trusted_hosts: tuple[str, ...] = ()  # Host names served; empty: the bind address, localhost
    host: str = "127.0.0.1"  # the development server's address (python app.py, mediacraft serve)
    port: int = 5000  # ... and port
    bind: str = "127.0.0.1:8000"  # gunicorn's address(es), comma-separated
    gunicorn_workers: int = 2  # processes, each with its own task queue
    gunicorn_threads: int = 64  # request threads per process (also sets the stream cap)
    gunicorn_keepalive: int = 75  # seconds an idle keep-alive connection is kept
    gunicorn_connections: int = 1000  # connections per process, idle ones included
    gunicorn_timeout: int = 120  # seconds a silent worker lives before it is restarted
    gunicorn_graceful_timeout: int = 30  # seconds a stopping worker has to finish
    access_log: str = ""  # gunicorn's access log ("-": stderr; empty: none)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Config:
        """Build a Config from ``environ`` (default ``os.environ``) and keyword overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _convert(f.type, raw, f.name)
        values.update(overrides)
        if "data_dir" in values:
            values["data_dir"] = Path(str(values["data_dir"]))
        if isinstance(values.get("allowed_networks"), str):
            values["allowed_networks"] = _parse_list(str(values["allowed_networks"]))
        config = cls(**values)  # type: ignore[arg-type]
        config.validate()
        return config

    def validate(self) -> None:
        """Raise :class:`ConfigError` (naming the variable) for a value out of range."""
        for name in AT_LEAST_ONE:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{PREFIX}{name.upper()} must be at least 1")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ConfigError(f"{PREFIX}{f.name.upper()} must not be negative")
        for name in POSITIVE:
            if float(getattr(self, name)) <= 0:
                raise ConfigError(f"{PREFIX}{name.upper()} must be more than 0")
        if self.lowest_speed_kb > self.min_limit_rate_kb:
            # else a limit_rate the server allows would make the download fail as too slow
            raise ConfigError(
                f"{PREFIX}LOWEST_SPEED_KB ({self.lowest_speed_kb}) must not be above "
                f"{PREFIX}MIN_LIMIT_RATE_KB ({self.min_limit_rate_kb})"
            )
        if self.extractors not in {"all", "generic", "off"}:
            raise ConfigError(
                f"{PREFIX}EXTRACTORS must be 'all', 'generic' or 'off', not {self.extractors!r}"
            )
        if self.proxy and not self.proxy.lower().startswith(PROXY_SCHEMES):
            raise ConfigError(
                f"{PREFIX}PROXY must start with one of {', '.join(PROXY_SCHEMES)} "
                "(user:password@ may follow)"
            )
        if self.download_engine not in ENGINES:
            raise ConfigError(
                f"{PREFIX}DOWNLOAD_ENGINE must be one of {', '.join(ENGINES)}, "
                f"not {self.download_engine!r}"
            )
        if self.storage not in {"file", "sqlite"} and not _is_postgres_url(self.storage):
            raise ConfigError(
                f"{PREFIX}STORAGE must be 'file', 'sqlite' or a postgresql:// URL,"
                f" not {self.storage!r}"
            )
        if self.database_url and not _is_postgres_url(self.database_url):
            raise ConfigError(f"{PREFIX}DATABASE_URL must be a postgresql:// URL")
        if self.db_pool_max < 1 or self.db_pool_min < 0 or self.db_pool_min > self.db_pool_max:
            raise ConfigError(
                f"{PREFIX}DB_POOL_MIN ({self.db_pool_min}) must be between 0 and "
                f"{PREFIX}DB_POOL_MAX ({self.db_pool_max}), which must be at least 1"
            )
        if not 0 <= self.worker_nice <= 19:
            raise ConfigError(f"{PREFIX}WORKER_NICE must be between 0 and 19")
        if self.log_format not in {"text", "json"}:
            raise ConfigError(f"{PREFIX}LOG_FORMAT must be 'text' or 'json'")
        if self.metrics and len(self.metrics_token) < 16:
            raise ConfigError(
                f"{PREFIX}METRICS=true needs {PREFIX}METRICS_TOKEN (16 characters or more):"
                " /metrics is never served without it"
            )
        if str(self.log_level).upper() not in LOG_LEVELS:
            raise ConfigError(f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"{PREFIX}PORT must be from 1 to 65535")
        if not self.bind.strip() or not self.host.strip():
            raise ConfigError(f"{PREFIX}BIND and {PREFIX}HOST must not be empty")

    @property
    def database_dsn(self) -> str:
        """The PostgreSQL URL when storage is PostgreSQL, else ''."""
        if _is_postgres_url(self.storage):
            return self.storage
        return self.database_url

    @property
    def storage_kind(self) -> str:
        return "postgres" if self.database_dsn else self.storage

    @property
    def node(self) -> str:
        """This host's identity: MEDIACRAFT_NODE_ID, else the host name."""
        import socket

        return self.node_id or socket.gethostname()

    @property
    def worker_threads(self) -> int:
        return self.workers or self.max_concurrent_tasks

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def event_stream_limit(self) -> int:
        """Open event streams per process.

        Each stream holds one request thread for as long as it is open, so
        under gunicorn a quarter of the threads (at least two) stays for the
        API and ``/healthz`` whatever the streams do.
        """
        if self.max_event_streams > 0:
            return self.max_event_streams
        return max(1, self.gunicorn_threads - max(2, self.gunicorn_threads // 4))


AT_LEAST_ONE = (
    "max_tasks_per_user", "max_concurrent_tasks", "max_attempts", "max_download_mb",
    "max_playlist_kb", "max_segments", "max_record_seconds", "max_download_threads",
    "min_limit_rate_kb", "lowest_speed_seconds", "max_unfinished_per_user",
    "max_stored_tasks_per_user", "max_task_seconds", "max_clips", "per_host_connections",
    "max_uploads_per_user", "max_video_pixels",
    "max_video_streams", "max_video_frames", "gunicorn_workers", "gunicorn_threads",
    "gunicorn_connections", "gunicorn_timeout", "max_upload_mb", "extraction_seconds",
    "restore_memory_mb",
)  # fmt: skip
POSITIVE = (
    "heartbeat_seconds", "stale_after_seconds", "poll_seconds", "frame_seconds",
    "processing_time_factor", "unfinished_ttl_hours", "db_pool_timeout",
)  # fmt: skip


def export_library_setting(name: str, value: str) -> str:
    """Hand a setting to a library that reads its own environment variable.

    prometheus_client's multiprocess mode reads ``PROMETHEUS_MULTIPROC_DIR``;
    one the operator set already wins. Returns the value in force.
    """
    return os.environ.setdefault(name, value)


def _is_postgres_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def _convert(type_name: object, raw: str, name: str) -> object:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return _parse_bool(raw)
        if kind.startswith("tuple"):
            return _parse_list(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw


__all__ = ["Config", "ConfigError", "PREFIX"]
