"""Download options: one typed object instead of a loose ``params`` dict.

Profiles (``fast``, ``stable``, ``low_bandwidth``) set connections and retries;
explicit options override the profile's values. Every value a visitor may set
is checked against a range, and the ranges that are policy (threads, the
floor under ``limit_rate``, the longest recording) come from the server's
:class:`~mediacraft.download.limits.DownloadLimits`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..exceptions import ValidationError
from .limits import SERVER_SETTINGS, DownloadLimits

MiB = 1024 * 1024

PROFILES: dict[str, dict[str, Any]] = {
    "fast": {"threads": 16, "retries": 1, "retry_delay": 0.5},
    "stable": {"threads": 8, "retries": 5, "retry_delay": 2.0},
    "low_bandwidth": {"threads": 2, "retries": 3, "retry_delay": 2.0, "chunk_size": 16 * 1024},
}
DEFAULT_PROFILE = "stable"

#: fields an API or CLI payload may set (the rest tune the engine and stay internal)
VISITOR_FIELDS = frozenset({
    "profile", "quality", "threads", "retries", "retry_delay", "max_retry_delay",
    "connect_timeout", "first_byte_timeout", "stall_timeout", "limit_rate", "headers",
    "connections", "max_redirects", "record_seconds", "audio_lang", "subtitles",
    "split_discontinuities", "user_agent", "referer", "container", "start", "end",
    "precise_cut",
})  # fmt: skip
CONTAINERS = ("mp4", "mkv", "m4a", "mp3")
AUDIO_CONTAINERS = frozenset({"m4a", "mp3"})
ALIASES = {
    "max_retries": "retries",
    "rate_limit": "limit_rate",
    "timeout": "first_byte_timeout",
    "read_timeout": "first_byte_timeout",
}
MAX_HEADERS = 32
MAX_HEADER_LENGTH = 8192

_QUALITY = re.compile(r"^(best|worst|\d{2,4}p|\d+)$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB](?:/s)?)?\s*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_CLOCK = re.compile(r"^\s*(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d+)?)\s*$")


def parse_time(value: str | int | float | None, name: str = "start") -> float | None:
    """Seconds (``90``, ``"90.5"``) or a clock time (``"1:30"``, ``"01:02:03.5"``)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be seconds or hh:mm:ss, not {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _CLOCK.match(str(value))
        if not match:
            raise ValidationError(f"{name} {value!r} must be seconds or hh:mm:ss")
        first, second, rest = match.groups()
        hours, minutes = (first, second) if second is not None else (None, first)
        if minutes is not None and second is not None and int(minutes) >= 60:
            raise ValidationError(f"{name} {value!r} has more than 59 minutes")
        if hours is None and minutes is not None and float(rest) >= 60:
            raise ValidationError(f"{name} {value!r} has more than 59 seconds")
        seconds = float(rest) + 60 * int(minutes or 0) + 3600 * int(hours or 0)
    if seconds < 0 or seconds != seconds or seconds > 10 * 24 * 3600:
        raise ValidationError(f"{name} must be from 0 to 864000 seconds")
    return seconds


def parse_rate(value: str | int | float | None) -> int | None:
    """``"2M"`` -> 2097152 bytes/s; ``None``/``0``/``""`` -> no limit."""
    if value in (None, "", 0):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValidationError(f"limit_rate must be positive, not {value!r}")
        return int(value)
    match = _RATE.match(str(value))
    if not match:
        raise ValidationError(f"limit_rate {value!r} is not a rate such as 500K or 2M")
    number, unit = float(match.group(1)), match.group(2).lower()
    scale = {"": 1, "k": 1024, "m": MiB, "g": 1024 * MiB}[unit]
    return int(number * scale) or None


#: what every request carries before a task's own headers (a compressed body is not media)
BASE_HEADERS = {"User-Agent": "MediaCraft/0.1", "Accept-Encoding": "identity"}


@dataclass(frozen=True)
class DownloadOptions:
    """Everything that tunes one download. Times are seconds, sizes bytes."""

    profile: str = DEFAULT_PROFILE
    quality: str = "best"  # best | worst | 720p | a bandwidth in bits/s
    threads: int = 8
    retries: int = 5  # retries after the first attempt
    retry_delay: float = 2.0  # base of the exponential backoff
    max_retry_delay: float = 30.0
    connect_timeout: float = 15.0
    first_byte_timeout: float = 20.0  # until the response headers arrive
    stall_timeout: float = 5.0  # no byte for this long once the body flows: retry
    limit_rate: int | None = None  # bytes/s over all connections
    headers: dict[str, str] = field(default_factory=dict)
    connections: int = 4  # parallel Range requests for one large direct file
    max_redirects: int = 5
    record_seconds: float | None = None  # length of a live recording (required for live)
    audio_lang: str | None = None  # None: the default rendition; "all"; or a language
    subtitles: str = "none"  # none | all | a language
    split_discontinuities: bool = False  # one file per discontinuity group, not re-encoded
    user_agent: str | None = None  # sent as User-Agent (over ``headers``)
    referer: str | None = None  # sent as Referer (over ``headers``)
    container: str = "mp4"  # mp4 | mkv | m4a (audio, copied) | mp3 (audio, re-encoded)
    start: float | None = None  # seconds into the video: only what covers the range is fetched
    end: float | None = None
    precise_cut: bool = False  # cut at the exact frames (re-encoding the edges), not keyframes
    # engine tuning (not settable from a payload)
    chunk_size: int = 512 * 1024
    split_threshold: int = 32 * MiB  # direct files at least this big are split
    checkpoint_interval: float = 0.25  # at most this stale after a crash

    @classmethod
    def from_profile(
        cls,
        profile: str | None = None,
        limits: DownloadLimits | None = None,
        **overrides: Any,
    ) -> DownloadOptions:
        name = profile or DEFAULT_PROFILE
        if name not in PROFILES:
            raise ValidationError(
                f"Unknown profile {name!r}; expected one of: {', '.join(PROFILES)}"
            )
        values: dict[str, Any] = {"profile": name, **PROFILES[name]}
        if limits is not None:  # a profile asks for no more threads than the server gives
            values["threads"] = min(values["threads"], limits.max_threads)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated(limits)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any] | None, limits: DownloadLimits | None = None
    ) -> DownloadOptions:
        """Build from an API/CLI payload; unknown keys and server settings are refused."""
        data = dict(data or {})
        for alias, name in ALIASES.items():
            if alias in data:
                data.setdefault(name, data.pop(alias))
        servers = sorted(set(data) & set(SERVER_SETTINGS))
        if servers:
            names = ", ".join(f"{key} ({SERVER_SETTINGS[key]})" for key in servers)
            raise ValidationError(f"These are server settings, not download options: {names}")
        unknown = sorted(set(data) - VISITOR_FIELDS)
        if unknown:
            raise ValidationError(f"Unknown download option(s): {', '.join(unknown)}")
        profile = data.pop("profile", None)
        if "limit_rate" in data:
            data["limit_rate"] = parse_rate(data["limit_rate"])
        for name in ("start", "end"):
            if name in data:
                data[name] = parse_time(data[name], name)
        return cls.from_profile(profile, limits, **data)

    def validated(self, limits: DownloadLimits | None = None) -> DownloadOptions:
        """Check types and ranges against ``limits``; return self (or raise ValidationError)."""
        limits = limits or DownloadLimits()

        def number(name: str, low: float, high: float, integer: bool = False) -> None:
            value = getattr(self, name)
            ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok_type or not low <= value <= high:
                raise ValidationError(f"{name} must be a number from {low:g} to {high:g}")

        number("threads", 1, limits.max_threads, integer=True)
        number("retries", 0, 20, integer=True)
        number("connections", 1, 16, integer=True)
        number("retry_delay", 0, 60)
        number("max_retry_delay", 0, 300)
        number("connect_timeout", 0.1, 300)
        number("first_byte_timeout", 0.1, 300)
        number("stall_timeout", 0.1, 300)
        number("chunk_size", 1024, 16 * MiB, integer=True)
        number("max_redirects", 0, 20, integer=True)
        number("checkpoint_interval", 0, 60)
        if self.record_seconds is not None:
            number("record_seconds", 1, limits.max_record_seconds)
        if not isinstance(self.quality, str) or not _QUALITY.fullmatch(
            self.quality.strip().lower()
        ):
            raise ValidationError(
                f"quality {self.quality!r} must be best, worst, a height such as 720p, "
                "or a bandwidth in bits/s"
            )
        if self.audio_lang is not None and not _choice_ok(self.audio_lang, ("all",)):
            raise ValidationError(
                f"audio_lang {self.audio_lang!r} must be a language such as en or zh-Hans, or all"
            )
        if not _choice_ok(self.subtitles, ("none", "all")):
            raise ValidationError(
                f"subtitles {self.subtitles!r} must be none, all or a language such as en"
            )
        if not isinstance(self.split_discontinuities, bool):
            raise ValidationError("split_discontinuities must be true or false")
        if not isinstance(self.precise_cut, bool):
            raise ValidationError("precise_cut must be true or false")
        if self.container not in CONTAINERS:
            raise ValidationError(
                f"container {self.container!r} must be one of: {', '.join(CONTAINERS)}"
            )
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 <= value <= 864000):  # fmt: skip
                raise ValidationError(f"{name} must be seconds from 0 to 864000, or hh:mm:ss")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValidationError(f"end ({self.end:g} s) must be after start ({self.start:g} s)")
        if (self.start is not None or self.end is not None) and self.record_seconds is not None:
            raise ValidationError("start and end cannot be combined with record_seconds")
        for name in ("user_agent", "referer"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, str)
                or "\r" in value
                or "\n" in value
                or len(value) > MAX_HEADER_LENGTH
            ):
                raise ValidationError(
                    f"{name} must be one line of at most {MAX_HEADER_LENGTH} characters"
                )
        self._check_headers()
        if self.limit_rate is not None and (
            isinstance(self.limit_rate, bool)
            or not isinstance(self.limit_rate, int)
            or self.limit_rate < limits.min_limit_rate
        ):
            floor = limits.min_limit_rate // 1024
            raise ValidationError(
                f"limit_rate must be at least {floor}K (bytes per second), or left out for no limit"
            )
        return self

    def _check_headers(self) -> None:
        if not isinstance(self.headers, dict):
            raise ValidationError("headers must be an object of name: value strings")
        if len(self.headers) > MAX_HEADERS:
            raise ValidationError(f"headers must be at most {MAX_HEADERS} entries")
        for name, value in self.headers.items():
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                raise ValidationError(f"Header name {name!r} is not valid")
            if not isinstance(value, str) or "\r" in value or "\n" in value:
                raise ValidationError(f"Header {name} has an invalid value")
            if len(value) > MAX_HEADER_LENGTH:
                raise ValidationError(
                    f"Header {name} must be at most {MAX_HEADER_LENGTH} characters"
                )

    @property
    def request_headers(self) -> dict[str, str]:
        """``headers`` with ``user_agent`` and ``referer`` put in (those two win)."""
        out = dict(self.headers)
        for name, value in (("User-Agent", self.user_agent), ("Referer", self.referer)):
            if value:
                for key in [k for k in out if k.lower() == name.lower()]:
                    del out[key]
                out[name] = value
        return out

    @property
    def audio_only(self) -> bool:
        return self.container in AUDIO_CONTAINERS

    @property
    def clipped(self) -> bool:
        return self.start is not None or self.end is not None

    def with_changes(self, **changes: Any) -> DownloadOptions:
        return replace(self, **changes).validated()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def attempts(self) -> int:
        return self.retries + 1


def _choice_ok(value: object, words: tuple[str, ...]) -> bool:
    if not isinstance(value, str):
        return False
    lowered = value.strip().lower()
    return lowered in words or bool(_LANGUAGE.fullmatch(value.strip()))


__all__ = ["AUDIO_CONTAINERS", "CONTAINERS", "DEFAULT_PROFILE", "PROFILES", "VISITOR_FIELDS",
           "DownloadOptions", "parse_rate", "parse_time"]  # fmt: skip
