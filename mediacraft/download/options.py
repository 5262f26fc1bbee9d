"""Download options: one typed object instead of a loose ``params`` dict.

Profiles follow SPEC F5 / seed 000 (``fast``, ``stable``, ``low_bandwidth``);
explicit options override the profile's values.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..exceptions import ValidationError

MiB = 1024 * 1024

PROFILES: dict[str, dict[str, Any]] = {
    "fast": {"threads": 16, "retries": 1, "retry_delay": 0.5},
    "stable": {"threads": 8, "retries": 5, "retry_delay": 2.0},
    "low_bandwidth": {"threads": 2, "retries": 3, "retry_delay": 2.0, "chunk_size": 16 * 1024},
}
DEFAULT_PROFILE = "stable"
MAX_THREADS = 32

_QUALITY = re.compile(r"^(best|worst|\d{2,4}p|\d+)$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB](?:/s)?)?\s*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


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
    read_timeout: float = 60.0  # socket read timeout (the stall timeout, if lower, wins)
    stall_timeout: float = 5.0  # no byte for this long: abandon and retry
    limit_rate: int | None = None  # bytes/s over all connections
    headers: dict[str, str] = field(default_factory=dict)
    chunk_size: int = 512 * 1024
    connections: int = 4  # parallel Range requests for one large direct file
    split_threshold: int = 32 * MiB  # direct files at least this big are split
    max_redirects: int = 5
    max_playlist_bytes: int = 8 * MiB
    max_segments: int = 50_000
    max_total_bytes: int = 64 * 1024 * MiB
    checkpoint_interval: float = 0.25  # at most this stale after a crash

    @classmethod
    def from_profile(cls, profile: str | None = None, **overrides: Any) -> DownloadOptions:
        name = profile or DEFAULT_PROFILE
        if name not in PROFILES:
            raise ValidationError(
                f"Unknown profile {name!r}; expected one of: {', '.join(PROFILES)}"
            )
        values: dict[str, Any] = {"profile": name, **PROFILES[name]}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DownloadOptions:
        """Build from an API/CLI payload; unknown keys are a ValidationError."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        aliases = {"max_retries": "retries", "rate_limit": "limit_rate", "timeout": "read_timeout"}
        for alias, name in aliases.items():
            if alias in data:
                data.setdefault(name, data.pop(alias))
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(f"Unknown download option(s): {', '.join(unknown)}")
        profile = data.pop("profile", None)
        if "limit_rate" in data:
            data["limit_rate"] = parse_rate(data["limit_rate"])
        return cls.from_profile(profile, **data)

    def validated(self) -> DownloadOptions:
        """Check types and ranges; return self (or raise ValidationError)."""

        def number(name: str, low: float, high: float, integer: bool = False) -> None:
            value = getattr(self, name)
            ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok_type or not low <= value <= high:
                raise ValidationError(f"{name} must be a number from {low} to {high}")

        number("threads", 1, MAX_THREADS, integer=True)
        number("retries", 0, 20, integer=True)
        number("connections", 1, 16, integer=True)
        number("retry_delay", 0, 60)
        number("connect_timeout", 0.1, 300)
        number("read_timeout", 0.1, 86_400)
        number("stall_timeout", 0.1, 600)
        number("chunk_size", 1024, 16 * MiB, integer=True)
        number("max_redirects", 0, 20, integer=True)
        if not isinstance(self.quality, str) or not _QUALITY.fullmatch(
            self.quality.strip().lower()
        ):
            raise ValidationError(
                f"quality {self.quality!r} must be best, worst, a height such as 720p, "
                "or a bandwidth in bits/s"
            )
        if not isinstance(self.headers, dict):
            raise ValidationError("headers must be an object of name: value strings")
        for name, value in self.headers.items():
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                raise ValidationError(f"Header name {name!r} is not valid")
            if not isinstance(value, str) or "\r" in value or "\n" in value:
                raise ValidationError(f"Header {name} has an invalid value")
        if self.limit_rate is not None and (
            not isinstance(self.limit_rate, int) or self.limit_rate < 1024
        ):
            raise ValidationError("limit_rate must be at least 1K (bytes per second)")
        return self

    def with_changes(self, **changes: Any) -> DownloadOptions:
        return replace(self, **changes).validated()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def attempts(self) -> int:
        return self.retries + 1


__all__ = ["DEFAULT_PROFILE", "PROFILES", "DownloadOptions", "parse_rate"]
