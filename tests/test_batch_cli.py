"""``mediacraft batch``: mixed inputs, report, progress file, resume after kill -9, politeness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediacraft.cli import main
from mediacraft.download import politeness
from mediacraft.media import probe
from tests.support.batch_media import add_streams, segment_names, small_stream
from tests.support.media import make_video
from tests.support.origin import Origin
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
NET = ["--allow-network", "127.0.0.1"]


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_stream(tmp_path_factory.mktemp("batch-cli"))


@pytest.fixture
def origin(stream: Path) -> Iterator[Origin]:
    with Origin() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_politeness() -> Iterator[None]:
    yield
    politeness.configure(None)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _by_source(report: dict) -> dict[str, dict]:
    """Items by source (the first one of duplicates)."""
    items: dict[str, dict] = {}
    for item in report["items"]:
        items.setdefault(item["source"], item)
    return items


def test_batch_of_mixed_inputs_reports_each_one(origin, stream, tmp_path, capsys):
    good = add_streams(origin, stream, [f"good{i}" for i in range(15)])
    slow = add_streams(origin, stream, ["slow0", "slow1"])
    forbidden = add_streams(origin, stream, ["deny0", "deny1"])
    stuck = add_streams(origin, stream, ["stuck"])
    gone = [origin.url("gone0/index.m3u8"), origin.url("gone1/index.m3u8")]  # 404
    for name in ("slow0", "slow1"):
        origin.add_fault(f"{name}/index.m3u8", "delay", seconds=1.0)
    for name in ("deny0", "deny1"):
        origin.add_fault(f"{name}/seg_002.ts", "status", status=403)
    origin.add_fault("stuck/index.m3u8", "stall", after=20, seconds=30)
    unreachable = "http://127.0.0.1:9/nothing/index.m3u8"  # discard port: refused
    lines = ["# a comment", *good[:8], "", *slow, *forbidden, "ftp://127.0.0.1/x.m3u8"]
    lines += [*gone, good[0], *good[8:], *stuck, unreachable, "not a url"]
    url_list = _write(tmp_path / "urls.txt", lines)
    out, report_path = tmp_path / "out", tmp_path / "report.json"
    progress_path = tmp_path / "progress" / "p.json"

    code = main([
        "batch", "--url-list", str(url_list), "--url-list", str(tmp_path / "missing.txt"),
        "-o", str(out), "--parallel", "4", "--profile", "fast", "--max-retries", "1",
        "--timeout", "4", "--report", str(report_path), "--progress-file", str(progress_path),
        *NET,
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    report = json.loads(report_path.read_text())
    items = _by_source(report)
    assert len(report["items"]) == 27 and report["succeeded"] is False
    for url in good + slow:
        item = items[url]
        assert item["status"] == "completed", item
        assert item["attempts"] == 1 and item["error"] is None
        assert Path(item["output"]).read_bytes()[4:8] == b"ftyp"
        assert item["size"] == Path(item["output"]).stat().st_size
        assert item["media_duration"] == pytest.approx(4.0, abs=0.3)
        assert item["duration"] > 0
    assert items[slow[0]]["duration"] >= 1.0
    for url in forbidden:
        assert items[url]["status"] == "failed" and items[url]["attempts"] == 2
        # a 403 gets one fresh copy of the playlist (signed links expire), then it is final
        assert items[url]["error"].startswith("Segment 3 returned HTTP 403 even with fresh links")
    for url in gone:
        assert items[url]["error"] == "The URL returned HTTP 404 after 1 attempt"
    assert "connection refused" in items[unreachable]["error"]
    assert items[stuck[0]]["error"] == "timed out after 4 s"
    assert items["ftp://127.0.0.1/x.m3u8"]["status"] == "invalid"
    assert items["ftp://127.0.0.1/x.m3u8"]["origin"] == "urls.txt:15"
    assert items["not a url"]["error"] == "not an http(s) URL: 'not a url'"
    duplicate = [i for i in report["items"] if i["status"] == "duplicate"]
    assert len(duplicate) == 1 and duplicate[0]["source"] == good[0]
    assert duplicate[0]["error"] == "duplicate of input 1 (urls.txt:2)"
    unreadable = items[str(tmp_path / "missing.txt")]
    assert unreadable["status"] == "invalid" and "cannot read the list" in unreadable["error"]
    assert report["counts"] == {
        "completed": 17, "failed": 6, "invalid": 3, "duplicate": 1
    }  # fmt: skip
    # 404s were tried twice (--max-retries 1), the good ones once
    assert origin.paths(suffix="gone0/index.m3u8") == ["/gone0/index.m3u8"] * 2
    assert origin.paths(suffix="good3/index.m3u8") == ["/good3/index.m3u8"]
    # final table on stdout, line logs on stderr (not a terminal)
    assert "status" in captured.out and "27 inputs: 17 completed, 6 failed" in captured.out
    assert "\r" not in captured.err and "] done " in captured.err
    assert "FAILED" in captured.err and "batch " in captured.err
    progress = json.loads(progress_path.read_text())
    assert progress["done"] == 27 and progress["counts"]["completed"] == 17
    assert progress["finished_at"] and progress["percent"] == 100.0
    checkpoint = json.loads((out / ".mediacraft-batch.json").read_text())
    states = sorted(entry["status"] for entry in checkpoint["items"].values())
    assert states.count("completed") == 17 and states.count("failed") == 6


def test_dry_run_prints_the_plan_and_touches_nothing(origin, stream, tmp_path, capsys):
    urls = add_streams(origin, stream, ["a", "b"])
    url_list = _write(tmp_path / "urls.txt", [*urls, "ftp://x/y", urls[0]])
    out = tmp_path / "out"
    code = main(["batch", "--url-list", str(url_list), "-o", str(out), "--dry-run",
                 "--report", str(tmp_path / "r.json"), *NET])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 1  # the plan has a bad line and a duplicate
    assert f"download -> {out / 'a.mp4'}" in text and "invalid: not an http(s) URL" in text
    assert "would run 2 of 4; nothing was written" in text
    assert not out.exists() and not (tmp_path / "r.json").exists()
    assert origin.log == []


def test_skip_existing_and_csv_file_list(origin, stream, tmp_path, capsys):
    urls = add_streams(origin, stream, ["one", "two", "three"])
    csv_list = _write(
        tmp_path / "list.csv",
        ["name,url", f"First clip,{urls[0]}", f'"Second, again",{urls[1]}', f"third,{urls[2]}"],
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "third.mp4").write_bytes(b"already here")
    code = main(["batch", "--file-list", str(csv_list), "-o", str(out), "--skip-existing",
                 "-q", "--profile", "fast", *NET])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (out / "First_clip.mp4").exists() and (out / "Second_again.mp4").exists()
    assert (out / "third.mp4").read_bytes() == b"already here"
    assert origin.paths(prefix="three") == []
    assert captured.err == ""  # quiet
    assert captured.out.strip().startswith("3 inputs: 2 completed, 1 skipped")


def test_input_dir_post_processing(tmp_path, capsys):
    videos = tmp_path / "videos"
    make_video(videos / "a.mp4", 1.0, "160x120", 10, box=(20, 20, 30, 20))
    make_video(videos / "b.mp4", 1.0, "160x120", 10, audio=False)
    (videos / "notes.txt").write_text("not a video")
    (videos / "broken.mp4").write_bytes(b"\x00" * 100)
    out = tmp_path / "out"
    code = main(["batch", "--input-dir", str(videos), "-o", str(out), "--task",
                 "watermark_removal", "--regions", "20,20,30,20", "--parallel", "2",
                 "--report", str(tmp_path / "r.json")])  # fmt: skip
    capsys.readouterr()
    assert code == 1  # broken.mp4 is not a video
    report = _by_source(json.loads((tmp_path / "r.json").read_text()))
    assert set(report) == {str(videos / n) for n in ("a.mp4", "b.mp4", "broken.mp4")}
    assert report[str(videos / "broken.mp4")]["status"] == "failed"
    for name in ("a", "b"):
        info = probe(out / f"{name}.mp4")
        assert (info.width, info.height) == (160, 120)
        assert report[str(videos / f"{name}.mp4")]["media_duration"] == pytest.approx(1.0, 0.2)
    code = main(["batch", "--input-dir", str(videos), "-o", str(tmp_path / "remuxed"),
                 "--task", "remux", "-q"])  # fmt: skip
    capsys.readouterr()
    assert code == 1 and probe(tmp_path / "remuxed" / "a.mp4").video_codec == "h264"


@pytest.mark.parametrize(
    "argv",
    [
        ["batch", "-o", "x"],
        ["batch", "--url-list", "u.txt", "-o", "x", "--parallel", "0"],
        ["batch", "--input-dir", ".", "-o", "x", "--task", "watermark_removal"],
        ["batch", "--input-dir", ".", "-o", "x", "--task", "watermark_removal",
         "--regions", "1,2,3"],
        ["batch", "--url-list", "u.txt", "-o", "x", "--profile", "fast", "--timeout", "-1"],
    ],
)  # fmt: skip
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "mediacraft batch: error:" in capsys.readouterr().err


def _cli(*args: str, **kwargs: object) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("MEDIACRAFT_PER_HOST_CONNECTIONS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "mediacraft.cli", "batch", *args, *NET],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = 90) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_resume_after_kill_9_finishes_only_what_was_left(origin, stream, tmp_path):
    names = [f"item{i:02d}" for i in range(12)]
    urls = add_streams(origin, stream, names)
    origin.latency = 0.08
    url_list = _write(tmp_path / "urls.txt", urls)
    out = tmp_path / "out"
    checkpoint_path = out / ".mediacraft-batch.json"
    common = ["--url-list", str(url_list), "-o", str(out), "--parallel", "2",
              "--threads", "1", "--profile", "fast"]  # fmt: skip

    def done_in_checkpoint() -> set[str]:
        try:
            data = json.loads(checkpoint_path.read_text())
        except (FileNotFoundError, ValueError):
            return set()
        return {e["source"] for e in data["items"].values() if e["status"] == "completed"}

    proc = _cli(*common, "-q")
    try:
        wait_for(lambda: len(done_in_checkpoint()) >= 4, timeout=60, what="4 items done")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = done_in_checkpoint()
    left = [u for u in urls if u not in done]
    assert 4 <= len(done) < 12 and left
    checkpoint_before = checkpoint_path.read_bytes()

    def drained() -> bool:  # a request the killed run had sent may still be read after the kill
        seen = len(origin.log)
        time.sleep(0.3)
        return origin.in_flight == 0 and len(origin.log) == seen

    wait_for(drained, timeout=30, what="the killed run's last requests to be answered")
    origin.clear_log()

    # a dry run of the resume says what it would do and touches nothing
    code, text, _err = _finish(_cli(*common, "--resume", "--dry-run"))
    assert code == 0 and text.count("skip (done in the checkpoint)") == len(done)
    assert origin.log == [] and checkpoint_path.read_bytes() == checkpoint_before

    report_path = tmp_path / "report.json"
    code, text, err = _finish(_cli(*common, "--resume", "--report", str(report_path)))
    assert code == 0, err
    fetched = {path.split("/")[1] for path in origin.paths(suffix="index.m3u8")}
    assert fetched == {url.split("/")[3] for url in left}  # only what was left
    per_item = len(segment_names(stream))
    assert len(origin.paths(suffix=".ts")) <= per_item * len(left)
    report = _by_source(json.loads(report_path.read_text()))
    assert all(report[u]["status"] == "completed" for u in urls)
    assert {u for u in urls if report[u]["from_checkpoint"]} == done
    assert done_in_checkpoint() == set(urls)
    for url in urls:
        assert probe(Path(report[url]["output"])).duration == pytest.approx(4.0, abs=0.3)
    assert not (out / ".mediacraft-batch").exists()  # work files cleaned up
    assert f"{len(urls)} inputs: {len(urls)} completed" in text


def test_per_host_limit_caps_concurrent_requests(origin, stream, tmp_path):
    urls = add_streams(origin, stream, [f"p{i}" for i in range(8)])
    origin.latency = 0.03
    url_list = _write(tmp_path / "urls.txt", urls)
    code, _out, err = _finish(_cli(
        "--url-list", str(url_list), "-o", str(tmp_path / "out"), "--parallel", "4",
        "--threads", "4", "--profile", "fast", "--per-host-connections", "3", "-q",
    ))  # fmt: skip
    assert code == 0, err
    assert origin.max_in_flight == 3  # reached, never exceeded (4 x 4 without the limit)


def test_host_limiter_blocks_and_wakes() -> None:
    limiter = politeness.HostLimiter(limit=2)
    url = "http://example.invalid:8080/a"
    inside = threading.Event()
    release = threading.Event()
    peak = []

    def worker() -> None:
        with limiter.slot(url):
            peak.append(limiter.active("example.invalid:8080"))
            inside.set()
            release.wait(5)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    wait_for(lambda: limiter.active("example.invalid:8080") == 2, timeout=5)
    assert limiter.active("other:80") == 0
    release.set()
    for thread in threads:
        thread.join(5)
    assert max(peak) == 2 and len(peak) == 5 and limiter.peak["example.invalid:8080"] == 2
    stop = threading.Event()
    stop.set()
    with limiter.slot(url), limiter.slot(url), pytest.raises(politeness.StoppedWaiting):
        with limiter.slot(url, stop):
            pass
