"""Disk usage of a visitor's directories while other tasks change them."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from mediacraft.paths import dir_size


def test_dir_size_counts_regular_files_only(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.bin").write_bytes(b"x" * 1000)
    (tmp_path / "a" / "b" / "two.bin").write_bytes(b"y" * 24)
    (tmp_path / "link").symlink_to(tmp_path / "a" / "one.bin")  # not counted twice
    assert dir_size(tmp_path) == 1024
    assert dir_size(tmp_path / "missing") == 0


def test_dir_size_survives_directories_vanishing_under_it(tmp_path: Path) -> None:
    """A finished attempt removes its directory while the quota is being summed."""
    (tmp_path / "kept.bin").write_bytes(b"k" * 100)
    stop = threading.Event()

    def churn() -> None:
        n = 0
        while not stop.is_set():
            work = tmp_path / f"task-{n % 4}" / "work" / "deep"
            work.mkdir(parents=True, exist_ok=True)
            (work / "segment.ts").write_bytes(b"s" * 10)
            shutil.rmtree(tmp_path / f"task-{n % 4}", ignore_errors=True)
            n += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        sizes = [dir_size(tmp_path) for _ in range(3000)]
    finally:
        stop.set()
        worker.join()
    assert min(sizes) >= 100
