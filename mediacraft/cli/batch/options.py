"""What one ``mediacraft batch`` run was asked to do, checked before anything runs.

The command line fills :class:`BatchOptions` (:meth:`BatchOptions.from_namespace`);
the engine (inputs, runner, report) reads only this object, so it can be
driven without argparse.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

TASKS = ("download", "remux", "watermark_removal")
MAX_PARALLEL = 64

Region = tuple[int, int, int, int]


class UsageError(Exception):
    """Bad command line (exit code 2)."""


@dataclass(frozen=True)
class BatchOptions:
    """One batch run: its inputs, where results go, and how items are run."""

    output: Path
    url_list: tuple[Path, ...] = ()
    file_list: tuple[Path, ...] = ()
    input_dir: Path | None = None
    task: str | None = None  # None: download for URLs, remux for local files
    regions: tuple[Region, ...] = ()
    parallel: int = 4
    profile: str | None = None
    threads: int | None = None
    quality: str | None = None
    max_retries: int = 1
    timeout: float | None = None  # seconds per attempt
    skip_existing: bool = False
    dry_run: bool = False
    resume: bool = False
    progress_file: Path | None = None
    report: Path | None = None
    allow_network: tuple[str, ...] = ()
    per_host_connections: int | None = None
    quiet: bool = False
    verbose: bool = False
    json: bool = False  # progress as JSON lines on stdout

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> BatchOptions:
        """The parsed command line as options; raises :class:`UsageError` when it is unusable."""
        options = cls(
            output=args.output,
            url_list=tuple(args.url_list),
            file_list=tuple(args.file_list),
            input_dir=args.input_dir,
            task=args.task,
            regions=parse_regions(args.regions),
            parallel=args.parallel,
            profile=args.profile,
            threads=args.threads,
            quality=args.quality,
            max_retries=args.max_retries,
            timeout=args.timeout,
            skip_existing=args.skip_existing,
            dry_run=args.dry_run,
            resume=args.resume,
            progress_file=args.progress_file,
            report=args.report,
            allow_network=tuple(args.allow_network),
            per_host_connections=args.per_host_connections,
            quiet=args.quiet,
            verbose=args.verbose,
            json=getattr(args, "json", False),
        )
        options.check()
        return options

    def check(self) -> None:
        """Raise :class:`UsageError` for options that contradict each other or are out of range."""
        if not (self.url_list or self.file_list or self.input_dir):
            raise UsageError("give at least one of --url-list, --file-list or --input-dir")
        if self.task is not None and self.task not in TASKS:
            raise UsageError(f"--task must be one of {', '.join(TASKS)}")
        if self.parallel < 1 or self.parallel > MAX_PARALLEL:
            raise UsageError(f"--parallel must be from 1 to {MAX_PARALLEL}")
        if self.max_retries < 0:
            raise UsageError("--max-retries must be 0 or more")
        if self.timeout is not None and self.timeout <= 0:
            raise UsageError("--timeout must be positive")
        if self.per_host_connections is not None and self.per_host_connections < 1:
            raise UsageError("--per-host-connections must be at least 1")
        if self.task == "watermark_removal" and not self.regions:
            raise UsageError("--task watermark_removal needs at least one --regions x,y,w,h")
        if self.regions and self.task != "watermark_removal":
            raise UsageError("--regions only applies to --task watermark_removal")
        if self.input_dir is not None and self.task == "download":
            raise UsageError("--input-dir holds local files: use --task remux or watermark_removal")


def parse_regions(values: list[str]) -> tuple[Region, ...]:
    """``--regions x,y,w,h`` values as integer rectangles."""
    regions = []
    for value in values:
        parts = value.replace(" ", "").split(",")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) != 4:
            raise UsageError(f"--regions {value!r} must be four integers x,y,w,h")
        x, y, w, h = numbers
        regions.append((x, y, w, h))
    return tuple(regions)


__all__ = ["TASKS", "BatchOptions", "Region", "UsageError", "parse_regions"]
