"""The engine behind ``mediacraft batch``: inputs, the run, its display and report."""

from __future__ import annotations

from .display import Display
from .inputs import DONE_OK, Item, collect_inputs, plan
from .report import print_plan, report_json, report_table, summary_line
from .runner import CHECKPOINT_NAME, Batch, CheckpointError, mark_done, remux_file

__all__ = [
    "CHECKPOINT_NAME",
    "DONE_OK",
    "Batch",
    "CheckpointError",
    "Display",
    "Item",
    "collect_inputs",
    "mark_done",
    "plan",
    "print_plan",
    "remux_file",
    "report_json",
    "report_table",
    "summary_line",
]
