"""``mediacraft batch``: many downloads (or local post-processing jobs) in one run.

Inputs come from ``--url-list`` (one URL a line), ``--file-list`` (plain lines
or CSV with ``name,url`` columns; lines may be URLs or local video paths) or
``--input-dir`` (the videos of a directory, for a post-processing ``--task``).
Items run in-process on a thread pool of ``--parallel`` workers through the
download engine (or ffmpeg for ``remux`` / ``watermark_removal``); one failure
never stops the others.

While running, a checkpoint (``<output>/.mediacraft-batch.json``) records each
item's state, written atomically; ``--resume`` reads it and runs only what was
left (an interrupted download also resumes its segments from the engine's own
checkpoint in ``<output>/.mediacraft-batch/``). Progress goes to stderr (one
``\\r`` line on a terminal, line logs otherwise), optionally to a JSON
``--progress-file``; the final report is a table on stdout and, with
``--report``, a JSON file.

Exit code: 0 when every input succeeded (or was skipped as already done),
1 otherwise, 2 for usage errors, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from ...atomic import write_json_atomic
from ...config import Config
from ...download import DownloadLimits, DownloadOptions, politeness
from ...download.options import PROFILES
from ...exceptions import ValidationError
from ..live import JsonBatchEvents, JsonLines, RichBatchTable, is_terminal
from .display import Display
from .inputs import DONE_OK, collect_inputs, plan
from .options import TASKS, BatchOptions, UsageError
from .report import print_plan, report_json, report_table, summary_line
from .runner import CHECKPOINT_NAME, Batch, CheckpointError, mark_done


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="run many downloads or post-processing jobs with a checkpoint and a report",
        description="Download a list of URLs (or post-process a directory of videos) in "
        "parallel, with resume, a live progress display and a final report.",
    )
    source = parser.add_argument_group("inputs (at least one)")
    source.add_argument(
        "--url-list",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a text file with one http(s) URL a line (# comments)",
    )
    source.add_argument(
        "--file-list",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="plain lines, or CSV with name,url columns (URLs or local paths)",
    )
    source.add_argument("--input-dir", type=Path, metavar="DIR",
                        help="local videos to post-process (with --task remux or "
                        "watermark_removal)")  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                        help="directory for the results (and the checkpoint)")  # fmt: skip
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="what to do with each input (default: download for URLs, "
                        "remux for local files)")  # fmt: skip
    parser.add_argument("--regions", action="append", default=[], metavar="X,Y,W,H",
                        help="watermark rectangle in video pixels (repeatable)")  # fmt: skip
    parser.add_argument("-p", "--parallel", type=int, default=4, help="items at once (default 4)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="download profile (default stable)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="segment fetches per item")
    parser.add_argument("--quality", default=None, help="best (default), worst, 720p, bits/s")
    parser.add_argument("--max-retries", type=int, default=1,
                        help="times a failed item is tried again (default 1)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="give up an item after this long (per attempt)")  # fmt: skip
    parser.add_argument("--skip-existing", action="store_true",
                        help="skip an item whose output file already exists")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would run and exit; touch nothing")  # fmt: skip
    parser.add_argument("--resume", action="store_true",
                        help="continue the run recorded in the output's checkpoint")  # fmt: skip
    parser.add_argument("--progress-file", type=Path, default=None, metavar="PATH",
                        help="keep a JSON progress snapshot here while running")  # fmt: skip
    parser.add_argument("--report", type=Path, default=None, metavar="PATH",
                        help="write the final report as JSON")  # fmt: skip
    parser.add_argument("--allow-network", action="append", default=[], metavar="CIDR|HOST",
                        help="exempt a host or network from the private-address guard")  # fmt: skip
    parser.add_argument("--per-host-connections", type=int, default=None, metavar="N",
                        help="concurrent requests to one host over all items "
                        "(default MEDIACRAFT_PER_HOST_CONNECTIONS or 16)")  # fmt: skip
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    verbosity.add_argument("--json", action="store_true",
                           help="progress as JSON lines on stdout (start, progress, done, "
                           "failed, summary), nothing drawn")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log every step")
    parser.set_defaults(func=run)


def batch_display(opts: BatchOptions, batch: Batch):  # one of the displays below
    """JSON lines (--json), a rich live table (a terminal), or line logs (otherwise)."""
    if opts.json:
        return JsonBatchEvents(sys.stdout)
    if not opts.quiet and is_terminal(sys.stderr):
        return RichBatchTable(sys.stderr, opts.verbose, batch)
    return Display(sys.stderr, opts.quiet, opts.verbose)


def run(args: argparse.Namespace) -> int:
    """The ``batch`` subcommand: check the command line, then :func:`run_batch`."""
    try:
        options = BatchOptions.from_namespace(args)
    except UsageError as exc:
        print(f"mediacraft batch: error: {exc}", file=sys.stderr)
        return 2
    return run_batch(options)


def run_batch(opts: BatchOptions) -> int:
    """Run a batch to its end; returns the exit code (see the module's docstring)."""
    try:
        opts.check()
        download_options = DownloadOptions.from_profile(
            opts.profile, quality=opts.quality, threads=opts.threads
        )
    except (UsageError, ValidationError) as exc:
        print(f"mediacraft batch: error: {exc}", file=sys.stderr)
        return 2
    if opts.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    output_dir: Path = opts.output.expanduser().resolve()
    items = collect_inputs(opts)
    plan(items, opts, output_dir)
    try:
        config = Config.from_env()
        limits = DownloadLimits.from_config(config, visitor=False)
    except ValueError as exc:
        print(f"mediacraft batch: error: {exc}", file=sys.stderr)
        return 2
    allowed = tuple(config.allowed_networks) + opts.allow_network
    batch = Batch(items, opts, output_dir, download_options, allowed=allowed, limits=limits)
    try:
        previous = batch.load_checkpoint() if opts.resume else {}
    except CheckpointError as exc:
        print(f"mediacraft batch: error: {exc}", file=sys.stderr)
        return 2
    mark_done(items, previous, opts.skip_existing)
    if opts.dry_run:
        print_plan(items, batch, sys.stdout)
        return 0 if all(i.status in ("pending", *DONE_OK) for i in items) else 1

    display = batch_display(opts, batch)
    if not opts.resume and batch.checkpoint_path.exists() and not opts.quiet:
        display.note(f"note: starting over; --resume continues the run in {CHECKPOINT_NAME}")
    politeness.configure(opts.per_host_connections or config.per_host_connections)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"mediacraft batch: error: cannot create {output_dir}: {exc}", file=sys.stderr)
        return 2
    code = 0
    try:
        batch.run(display)
    except KeyboardInterrupt:
        code = 130
    finally:
        display.close()
    elapsed = time.monotonic() - batch.started
    if opts.json:
        counts: dict[str, int] = {}
        for item in items:
            counts[item.status] = counts.get(item.status, 0) + 1
        JsonLines(sys.stdout).emit("summary", elapsed=round(elapsed, 3), counts=counts,
                                   interrupted=bool(code))  # fmt: skip
    elif opts.quiet:
        for item in items:
            if item.status not in DONE_OK:
                print(f"[{item.index}] {item.status}: {item.source}: {item.error}", file=sys.stderr)
    else:
        print(report_table(items))
    if not opts.json:
        print(summary_line(items, elapsed))
    if opts.report is not None:
        try:
            write_json_atomic(opts.report, report_json(batch, elapsed))
        except OSError as exc:
            print(f"mediacraft batch: cannot write the report: {exc}", file=sys.stderr)
            code = code or 1
    if code:
        print("mediacraft batch: interrupted; run again with --resume to finish", file=sys.stderr)
        return code
    return 0 if all(item.status in DONE_OK for item in items) else 1


__all__ = ["register", "run", "run_batch"]
