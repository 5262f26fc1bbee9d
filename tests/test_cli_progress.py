"""Progress of ``mediacraft download`` / ``batch``: rich on a terminal, lines otherwise,
JSON lines with ``--json``."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediacraft.cli import main
from tests.support.batch_media import add_streams, small_stream
from tests.support.origin import Origin

ROOT = Path(__file__).resolve().parents[1]
NET = ["--allow-network", "127.0.0.1"]


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_stream(tmp_path_factory.mktemp("cli-progress"))


@pytest.fixture
def origin() -> Iterator[Origin]:
    with Origin() as server:
        yield server


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is JSON, nothing else


def test_download_json_lines(origin, stream, tmp_path, capsys) -> None:
    (url,) = add_streams(origin, stream, ["one"])
    out = tmp_path / "one.mp4"
    code = main(["download", url, "-o", str(out), "--json", *NET])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    events = json_lines(captured.out)
    assert events[-1]["event"] == "done" and events[-1]["path"] == str(out)
    assert events[-1]["size"] == out.stat().st_size and events[-1]["width"] == 160
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and {"stage", "percent", "bytes_done", "speed", "eta_seconds"} <= set(
        progress[0]
    )
    assert "downloading" in {e["stage"] for e in progress}
    assert captured.err.strip().endswith("160x120")  # the closing line, no bar drawn


def test_download_json_error_line(origin, tmp_path, capsys) -> None:
    code = main(["download", origin.url("missing.m3u8"), "-o", str(tmp_path / "x.mp4"),
                 "--json", *NET])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    events = json_lines(captured.out)
    assert events[-1]["event"] == "error" and "404" in events[-1]["message"]


def test_batch_json_lines(origin, stream, tmp_path, capsys) -> None:
    urls = add_streams(origin, stream, ["a", "b"])
    url_list = tmp_path / "urls.txt"
    url_list.write_text("\n".join([*urls, origin.url("gone/index.m3u8")]) + "\n")
    code = main(["batch", "--url-list", str(url_list), "-o", str(tmp_path / "out"),
                 "--json", "--max-retries", "0", *NET])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1  # one input failed
    events = json_lines(captured.out)  # no table, no summary text on stdout
    kinds = [e["event"] for e in events]
    assert kinds.count("start") == 3 and kinds.count("done") == 2 and kinds.count("failed") == 1
    assert kinds[-1] == "summary"
    assert events[-1]["counts"] == {"completed": 2, "failed": 1}
    failed = next(e for e in events if e["event"] == "failed")
    assert failed["source"].endswith("gone/index.m3u8") and "404" in failed["error"]
    assert captured.err == ""


def _run_on_terminal(args: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run the CLI with its stderr on a pseudo-terminal; (exit code, what the terminal got)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediacraft.cli", *args],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=follower,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], timeout)
        if not ready:
            proc.kill()
            raise AssertionError("the command hung")
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    proc.stdout.read()
    proc.stdout.close()
    return proc.wait(timeout), b"".join(chunks).decode(errors="replace")


def test_batch_on_a_terminal_draws_one_live_table(origin, stream, tmp_path) -> None:
    urls = add_streams(origin, stream, ["t1", "t2"])
    url_list = tmp_path / "urls.txt"
    url_list.write_text("\n".join(urls) + "\n")
    code, screen = _run_on_terminal(
        ["batch", "--url-list", str(url_list), "-o", str(tmp_path / "out"), *NET]
    )
    assert code == 0, screen
    assert "state" in screen and "speed" in screen and "ETA" in screen  # the table's head
    assert "batch 2/2" in screen and "ok 2" in screen  # the totals line
    assert "\x1b[" in screen  # drawn by rich with terminal controls, redrawn in place
    assert "] start " not in screen  # no line logs on a terminal


def test_download_on_a_terminal_draws_a_rich_bar(origin, stream, tmp_path) -> None:
    (url,) = add_streams(origin, stream, ["bar"])
    code, screen = _run_on_terminal(["download", url, "-o", str(tmp_path / "bar.mp4"), *NET])
    assert code == 0, screen
    assert "━" in screen and "100%" in screen  # rich's bar, finished
    assert "160x120" in screen
