"""Signed links that expire: fresh URLs from the playlist, and resume keyed by content."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mediacraft.download import DownloadOptions, download
from mediacraft.exceptions import DownloadError
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
    where = tmp_path_factory.mktemp("token-reference")
    with Origin(long_playlist.parent.parent) as server:
        result = download(
            server.url("long/index.m3u8"), where / "ref.mp4", DownloadOptions(),
            work_dir=where / "w", allowed_networks=ALLOW,
        )  # fmt: skip
    return hashlib.sha256(result.path.read_bytes()).hexdigest()


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


def finished(work_dir: Path) -> set[int]:
    track = json.loads((work_dir / "checkpoint.json").read_text())["tracks"]["v"]
    return set(range(track["next"])) | {int(i) for i in track["done"]}


def test_resume_after_kill_9_when_every_url_carries_a_fresh_token(
    origin, long_playlist, reference_sha, tmp_path
):
    origin.sign("long/", ttl=60)
    origin.latency = 0.12
    out = tmp_path / "video.mp4"
    work = tmp_path / ".video.mp4.download"
    cmd = [sys.executable, "-m", "mediacraft.cli", "download", origin.url("long/index.m3u8"),
           "-o", str(out), "--threads", "2", "--retry-delay", "0.01",
           "--allow-network", "127.0.0.1", "-q"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if (work / "checkpoint.json").exists() and len(finished(work)) >= 8:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the download finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    kept = finished(work)
    origin.clear_log()
    origin.latency = 0.0
    assert subprocess.run(cmd, cwd=ROOT, env=env, timeout=120).returncode == 0
    assert sha(out) == reference_sha
    again = [int(Path(p).stem.split("_")[1]) for p in origin.paths(suffix=".ts")]
    assert set(again).isdisjoint(kept) and len(again) == 24 - len(kept)  # tokens changed,
    assert origin.signatures_refused == 0  # the checkpoint still matched the content
