"""Resume after kill -9 and after an interrupt; cancel stops fast and cleans up."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mediacraft.download import DownloadOptions, download
from mediacraft.download.checkpoint import Checkpoint
from mediacraft.exceptions import Cancelled, DownloadError, Interrupted
from mediacraft.progress import CancelToken, Progress
from tests.support.origin import Origin, shared_media

ALLOW = ("127.0.0.1",)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def long_playlist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_media(tmp_path_factory, "long")  # type: ignore[return-value]


@pytest.fixture
def origin(long_playlist: Path):
    with Origin(long_playlist.parent.parent) as server:
        yield server


@pytest.fixture(scope="session")
def reference_sha(long_playlist: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """sha256 of an uninterrupted download of the long stream."""
    where = tmp_path_factory.mktemp("reference")
    with Origin(long_playlist.parent.parent) as server:
        result = download(
            server.url("long/index.m3u8"), where / "ref.mp4", DownloadOptions(),
            work_dir=where / "w", allowed_networks=ALLOW,
        )  # fmt: skip
    return hashlib.sha256(result.path.read_bytes()).hexdigest()


def segment_count(playlist: Path) -> int:
    return sum(1 for line in playlist.read_text().splitlines() if line.endswith(".ts"))


def finished_in_checkpoint(work_dir: Path) -> set[int]:
    track = json.loads((work_dir / "checkpoint.json").read_text())["tracks"]["v"]
    return set(range(track["next"])) | {int(i) for i in track["done"]}


def cli(url: str, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "mediacraft.cli", "download", url, "-o", str(out),
        "--threads", "2", "--retry-delay", "0.01", "--allow-network", "127.0.0.1", "-q",
    ]  # fmt: skip


def kill_cli_midway(url: str, out: Path, work_dir: Path, finished: int) -> set[int]:
    """Run ``mediacraft download``, ``kill -9`` it once ``finished`` segments are in its
    checkpoint; returns the segments the checkpoint holds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cli(url, out), cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            checkpoint = work_dir / "checkpoint.json"
            if checkpoint.exists() and len(finished_in_checkpoint(work_dir)) >= finished:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the download finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    return finished_in_checkpoint(work_dir)


def test_kill_9_midway_then_resume_is_identical_and_fetches_only_missing(
    origin, long_playlist, reference_sha, tmp_path
):
    total = segment_count(long_playlist)
    origin.latency = 0.12
    out = tmp_path / "video.mp4"
    work_dir = tmp_path / ".video.mp4.download"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    kept = kill_cli_midway(origin.url("long/index.m3u8"), out, work_dir, total // 3)
    assert not out.exists()
    assert total // 3 <= len(kept) < total
    first_run = set(origin.paths(suffix=".ts"))
    origin.clear_log()
    origin.latency = 0.0
    again = subprocess.run(cli(origin.url("long/index.m3u8"), out), cwd=ROOT, env=env, timeout=120)
    assert again.returncode == 0
    assert hashlib.sha256(out.read_bytes()).hexdigest() == reference_sha
    second_run = origin.paths(suffix=".ts")
    assert len(second_run) == len(set(second_run))  # nothing fetched twice
    refetched = {int(Path(p).stem.split("_")[1]) for p in second_run}
    assert refetched.isdisjoint(kept)  # only what the checkpoint did not hold
    assert refetched | kept == set(range(total))
    assert len(first_run) < total  # really interrupted midway
    assert not work_dir.exists()


def test_interrupt_then_resume_in_process(origin, long_playlist, reference_sha, tmp_path):
    total = segment_count(long_playlist)
    origin.latency = 0.05
    token = CancelToken()

    def hook(progress: Progress) -> None:
        if (progress.segments_done or 0) >= total // 2:
            token.interrupt()

    options = DownloadOptions(threads=2, retry_delay=0.01, checkpoint_interval=0.0)
    with pytest.raises(Interrupted):
        download(
            origin.url("long/index.m3u8"), tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
            allowed_networks=ALLOW, progress=hook, cancel=token,
        )  # fmt: skip
    kept = finished_in_checkpoint(tmp_path / "w")
    assert len(kept) >= total // 2
    origin.clear_log()
    result = download(
        origin.url("long/index.m3u8"), tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
        allowed_networks=ALLOW,
    )  # fmt: skip
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == reference_sha
    refetched = {int(Path(p).stem.split("_")[1]) for p in origin.paths(suffix=".ts")}
    assert refetched.isdisjoint(kept) and len(refetched) == total - len(kept)


def test_cancel_stops_within_a_second_and_removes_temp_files(origin, tmp_path):
    # Every segment stalls for 30 s: only cancel can end this quickly.
    origin.add_fault(lambda p: p.endswith(".ts") and "003" < p[-6:-3], "stall", after=1000)
    token = CancelToken()
    errors: list[BaseException] = []
    options = DownloadOptions(threads=4, stall_timeout=25, retry_delay=0.01)

    def run() -> None:
        try:
            download(
                origin.url("long/index.m3u8"), tmp_path / "out" / "o.mp4", options,
                work_dir=tmp_path / "w", allowed_networks=ALLOW, cancel=token,
            )  # fmt: skip
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 20
    while len(origin.paths(suffix=".ts")) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # let the stalled reads block
    asked = time.monotonic()
    token.cancel()
    worker.join(timeout=10)
    elapsed = time.monotonic() - asked
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)
    assert elapsed < 2.0, f"cancel took {elapsed:.2f} s"
    assert list((tmp_path / "w").iterdir()) == []
    assert list((tmp_path / "out").iterdir()) == []


def test_torn_or_foreign_checkpoint_is_ignored(origin, tmp_path, reference_sha):
    work = tmp_path / "w"
    work.mkdir()
    (work / "checkpoint.json").write_text('{"version": 1, "kind": "hls", "finger')
    result = download(
        origin.url("long/index.m3u8"), tmp_path / "o.mp4", DownloadOptions(),
        work_dir=work, allowed_networks=ALLOW,
    )  # fmt: skip
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == reference_sha
    checkpoint = Checkpoint(tmp_path)
    checkpoint.save("hls", "abc", {"next": 1})
    assert checkpoint.load("hls", "other") is None
    assert checkpoint.load("hls", "abc")["next"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".checkpoint")] == []


def test_server_killed_mid_download_resumes_the_task_byte_identical(
    origin: Origin, long_playlist: Path, reference_sha: str, tmp_path: Path
) -> None:
    """kill -9 of the whole app (gunicorn) while a download task runs: after a
    restart the task is recovered, fetches only what its checkpoint lacks, and
    its result is byte-identical to an uninterrupted download."""
    import requests

    from mediacraft.storage import FileStorage
    from tests.support.server import AppServer
    from tests.support.waiting import wait_for

    total = segment_count(long_playlist)
    origin.latency = 0.1
    data = tmp_path / "data"
    server = AppServer(data, workers=1)
    session = requests.Session()
    try:
        server.start()
        body = {"task_type": "download", "url": origin.url("long/index.m3u8"),
                "options": {"threads": 2}}  # fmt: skip
        task_id = session.post(server.url + "/api/tasks/create", json=body).json()["data"][
            "task_id"
        ]
        work = data / "work" / task_id
        wait_for(
            lambda: (
                (work / "checkpoint.json").exists()
                and len(finished_in_checkpoint(work)) >= total // 3
            ),
            timeout=60,
            what="a third of the segments checkpointed",
        )
        server.kill()
        saved = finished_in_checkpoint(work)
        assert 0 < len(saved) < total
        origin.clear_log()
        origin.latency = 0.0
        server.start()

        def status() -> dict:
            response = session.get(f"{server.url}/api/tasks/{task_id}/status")
            return response.json()["data"]

        done = wait_for(
            lambda: (s := status())["status"] in {"completed", "failed"} and s, timeout=90
        )
        assert done["status"] == "completed", done["error_message"]
        assert done["attempts"] == 2
        task = FileStorage(data).get_task(task_id)
        result = data / "results" / task.user_id / task_id / done["result"]["file_name"]
        assert hashlib.sha256(result.read_bytes()).hexdigest() == reference_sha
        refetched = {int(p.rsplit("_", 1)[1].split(".")[0]) for p in origin.paths(suffix=".ts")}
        assert refetched.isdisjoint(saved)  # only what the checkpoint lacked
        assert len(refetched) == total - len(saved)
    finally:
        session.close()
        server.stop()


# -- signed links that expire -------------------------------------------------------------
def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_expired_segment_links_are_refreshed_from_the_playlist(origin, reference_sha, tmp_path):
    origin.sign("long/", ttl=0.8)
    origin.latency = 0.1  # 24 segments over 2 threads: the first tokens expire midway
    logged: list[str] = []
    result = download(
        origin.url("long/index.m3u8"), tmp_path / "o.mp4",
        DownloadOptions(threads=2, retry_delay=0.01), work_dir=tmp_path / "w",
        allowed_networks=ALLOW, log=logged.append,
    )  # fmt: skip
    assert sha(result.path) == reference_sha
    assert origin.signatures_refused >= 1
    assert origin.paths(suffix="index.m3u8").count("/long/index.m3u8") >= 2
    assert any("fetching the playlist again" in line for line in logged)
    assert any(line.startswith("Fresh links for 24 segments") for line in logged)
    assert not any("t=" in line and "sig=" in line for line in logged)  # tokens stay out


def test_a_link_that_stays_forbidden_fails_after_one_refresh(origin, tmp_path):
    origin.sign("long/", ttl=0.0)  # every token is already expired
    with pytest.raises(DownloadError, match="even with fresh links from the playlist"):
        download(
            origin.url("long/index.m3u8"), tmp_path / "o.mp4",
            DownloadOptions(threads=1, retry_delay=0.01), work_dir=tmp_path / "w",
            allowed_networks=ALLOW,
        )  # fmt: skip
    assert origin.paths().count("/long/seg_000.ts") == 2  # once, and once with a fresh link


def test_resume_after_kill_9_when_every_url_carries_a_fresh_token(
    origin, long_playlist, reference_sha, tmp_path
):
    origin.sign("long/", ttl=60)
    origin.latency = 0.12
    out = tmp_path / "video.mp4"
    url = origin.url("long/index.m3u8")
    kept = kill_cli_midway(url, out, tmp_path / ".video.mp4.download", 8)
    origin.clear_log()
    origin.latency = 0.0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run(cli(url, out), cwd=ROOT, env=env, timeout=120).returncode == 0
    assert sha(out) == reference_sha
    again = [int(Path(p).stem.split("_")[1]) for p in origin.paths(suffix=".ts")]
    assert set(again).isdisjoint(kept) and len(again) == 24 - len(kept)  # tokens changed,
    assert origin.signatures_refused == 0  # the checkpoint still matched the content
