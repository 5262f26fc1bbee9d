"""What a batch did: the dry-run plan, the report table, the summary line, the JSON report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from ...humanize import human_bytes
from ...model import utcnow
from .inputs import DONE_OK, Item

if TYPE_CHECKING:
    from .runner import Batch


def print_plan(items: list[Item], batch: Batch, out: TextIO) -> None:
    """What ``--dry-run`` would do with each input."""
    out.write(f"dry run: {len(items)} inputs, output directory {batch.output_dir}\n")
    for item in items:
        action = {
            "pending": f"{item.task} -> {item.output}",
            "skipped": f"skip ({item.note})",
            "completed": "skip (done in the checkpoint)",
        }.get(item.status, f"{item.status}: {item.error}")
        out.write(f"  [{item.index}] {item.source}  {action}\n")
    runnable = sum(1 for i in items if i.status == "pending")
    out.write(f"would run {runnable} of {len(items)}; nothing was written\n")


def report_table(items: list[Item]) -> str:
    rows = [("#", "status", "source", "output", "size", "time", "tries", "error")]
    for item in items:
        rows.append(
            (
                str(item.index),
                item.status,
                _clip(item.source, 48),
                _clip(item.output.name if item.output else "-", 28),
                human_bytes(item.size) if item.size is not None else "-",
                f"{item.elapsed:.1f}s" if item.elapsed is not None else "-",
                str(item.attempts),
                _clip(item.error or item.note or "", 70),
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[n]) for n, cell in enumerate(row)).rstrip()
             for row in rows]  # fmt: skip
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def summary_line(items: list[Item], elapsed: float) -> str:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status] = counts.get(item.status, 0) + 1
    order = ("completed", "skipped", "failed", "invalid", "duplicate", "interrupted")
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    return f"{len(items)} inputs: {', '.join(parts) or 'nothing to do'} in {elapsed:.1f} s"


def report_json(batch: Batch, elapsed: float) -> dict[str, Any]:
    return {
        "started_at": batch.started_at,
        "finished_at": batch.finished_at or utcnow(),
        "elapsed": round(elapsed, 3),
        "output_dir": str(batch.output_dir),
        "parallel": batch.options.parallel,
        "profile": batch.options.profile,
        "counts": {k: v for k, v in batch.counts().items() if v},
        "succeeded": all(i.status in DONE_OK for i in batch.items),
        "items": [item.report() for item in batch.items],
    }
