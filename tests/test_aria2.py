"""The aria2 engine with the real aria2c: daemon, transfers, cancel, restart, resume, guard.

Every origin is the loopback one; aria2c reaches it only through the guarded
proxy, which is what the guard tests show: a refused address never receives
a connection, whether it is the first URL or a redirect aria2c follows itself.
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mediacraft.aria2 import Aria2Direct, daemon_for, direct_engine, find_binary
from mediacraft.aria2.daemon import FAIL_CLOSED_PROXY, Aria2Daemon
from mediacraft.aria2.transfer import PART_NAME
from mediacraft.download import DownloadOptions, download
from mediacraft.download.tracker import Tracker
from mediacraft.exceptions import BlockedAddress, Cancelled, Interrupted
from mediacraft.progress import CancelToken, Progress
from tests.support.media import make_video
from tests.support.origin import Origin
from tests.support.waiting import wait_for

ALLOWED = ("127.0.0.1",)
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def needs_aria2c() -> None:
    if find_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("aria2c is not installed (.ci/run installs it)")
        pytest.skip("aria2c is not installed")


@pytest.fixture
def daemon(tmp_path: Path):
    handle = daemon_for(tmp_path / "data")
    yield handle
    handle.stop()


@pytest.fixture
def origin():
    with Origin() as server:
        yield server


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(daemon: Aria2Daemon, url: str, work: Path, cancel: CancelToken | None = None,
          reports: list[Progress] | None = None, connections: int = 4) -> Path:  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    options = DownloadOptions(connections=connections, retry_delay=0.0, retries=2)
    tracker = Tracker(reports.append if reports is not None else None, interval=0.0)
    transfer = Aria2Direct(daemon, options, ALLOWED)
    return transfer.fetch(url, work, tracker, cancel or CancelToken())


def served(origin: Origin, path: str) -> int:
    return sum(entry.sent for entry in origin.log if entry.path == path)


def requested_ranges(origin: Origin, path: str, since: int = 0) -> int:
    """Bytes asked for by Range requests from log entry ``since`` on.

    aria2c opens its first connection without a Range (to learn the size) and
    drops it; what it asks for by Range is what it still lacks.
    """
    total = 0
    for entry in origin.log[since:]:
        if entry.path == path and entry.range and entry.range.startswith("bytes="):
            start, _, end = entry.range[6:].partition("-")
            total += int(end) - int(start) + 1
    return total


def test_daemon_files_are_private_and_shared_by_processes(daemon, tmp_path, monkeypatch):
    # proxies in the environment: neither the RPC (with its secret) nor aria2c may use them
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    endpoint = daemon.ensure_running()
    for name in ("aria2.conf", "daemon.json"):
        mode = stat.S_IMODE((daemon.dir / name).stat().st_mode)
        assert mode == 0o600, name
    conf = (daemon.dir / "aria2.conf").read_text()
    assert f"rpc-secret={endpoint.secret}" in conf and len(endpoint.secret) >= 24
    assert "rpc-listen-all=false" in conf and "follow-metalink=false" in conf
    # the secret is not on aria2c's command line
    cmdline = Path(f"/proc/{endpoint.pid}/cmdline").read_bytes()
    assert endpoint.secret.encode() not in cmdline
    # another process (a second gunicorn worker) attaches to the same daemon
    code = (
        "import sys; from mediacraft.aria2 import daemon_for; "
        "e = daemon_for(sys.argv[1]).ensure_running(); print(e.pid, e.port)"
    )
    outputs = [
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "data")],
                       capture_output=True, text=True, timeout=60, check=True).stdout.split()
        for _ in range(2)
    ]  # fmt: skip
    assert outputs == [[str(endpoint.pid), str(endpoint.port)]] * 2
    assert f"http-proxy={FAIL_CLOSED_PROXY}" in conf  # over aria2c's own http_proxy variable
    # a wrong secret is refused by aria2c
    import aria2p

    from mediacraft.aria2.daemon import Endpoint

    with pytest.raises(aria2p.ClientException):
        Endpoint(endpoint.port, "wrong", endpoint.pid).client(timeout=2).get_version()


def test_direct_file_is_byte_identical_with_several_connections(daemon, origin, tmp_path):
    data = os.urandom(6 * MiB + 123)
    origin.bandwidth = 4 * MiB  # long enough for progress reports while the connections run
    url = origin.add_file("big.bin", data)
    reports: list[Progress] = []
    path = fetch(daemon, url, tmp_path / "w", reports=reports)
    assert sha(path.read_bytes()) == sha(data)
    ranged = [e for e in origin.log if e.path == "/big.bin" and e.range]
    assert len(ranged) >= 2  # split over several connections
    assert reports[-1].bytes_done == len(data) and reports[-1].bytes_total == len(data)
    assert any((r.connections or 0) >= 2 for r in reports)
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [PART_NAME]


def test_engine_downloads_an_mp4_like_the_builtin_engine(daemon, origin, tmp_path):
    video = make_video(tmp_path / "src.mp4", seconds=2.0)
    url = origin.add_file("clip.mp4", video.read_bytes())
    options = DownloadOptions(connections=4)
    hook = direct_engine("aria2", tmp_path / "data", options, allowed_networks=ALLOWED)
    assert isinstance(hook, Aria2Direct)
    result = download(url, tmp_path / "out.mp4", options, work_dir=tmp_path / "w",
                      allowed_networks=ALLOWED, direct=hook)  # fmt: skip
    assert result.path.read_bytes() == video.read_bytes()
    assert result.duration == pytest.approx(2.0, abs=0.1)
    assert list((tmp_path / "w").iterdir()) == []


def test_killed_daemon_is_restarted_and_the_download_resumes(daemon, origin, tmp_path):
    data = os.urandom(8 * MiB)
    origin.bandwidth = 2 * MiB
    url = origin.add_file("slow.bin", data)
    first_pid = daemon.ensure_running().pid
    result: dict[str, object] = {}
    reports: list[Progress] = []

    def run() -> None:
        try:
            result["path"] = fetch(daemon, url, tmp_path / "w", reports=reports)
        except BaseException as exc:  # reported by the assertion below
            result["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    wait_for(lambda: reports and reports[-1].bytes_done > 3 * MiB, timeout=30)
    time.sleep(1.5)  # aria2c saves its control file every second
    os.kill(first_pid, signal.SIGKILL)
    since = len(origin.log)
    origin.bandwidth = None
    worker.join(timeout=60)
    assert "error" not in result, result.get("error")
    assert sha(Path(str(result["path"])).read_bytes()) == sha(data)
    assert daemon.ensure_running().pid != first_pid and daemon.restarts >= 1
    # resumed from the control file: what it had (3 MiB less what the last second of
    # saves missed) was not asked for again
    assert 0 < requested_ranges(origin, "/slow.bin", since) < len(data) - 1 * MiB


def test_interrupted_transfer_resumes_in_a_new_attempt(daemon, origin, tmp_path):
    data = os.urandom(8 * MiB)
    origin.bandwidth = 2 * MiB
    url = origin.add_file("slow.bin", data)
    token = CancelToken()
    reports: list[Progress] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fetch(daemon, url, tmp_path / "w", cancel=token, reports=reports)
        except BaseException as exc:  # checked below
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    wait_for(lambda: reports and reports[-1].bytes_done > 3 * MiB, timeout=30)
    token.interrupt()  # the server is stopping
    worker.join(timeout=30)
    assert len(errors) == 1 and isinstance(errors[0], Interrupted)
    kept = tmp_path / "w" / PART_NAME
    assert kept.exists() and (tmp_path / "w" / f"{PART_NAME}.aria2").exists()
    since = len(origin.log)
    daemon.stop()  # the server restarts: a new daemon, the task's next attempt resumes
    origin.bandwidth = None
    path = fetch(daemon_for(tmp_path / "data"), url, tmp_path / "w")
    assert sha(path.read_bytes()) == sha(data)
    # what it had (3 MiB and more) was not asked for again
    assert 0 < requested_ranges(origin, "/slow.bin", since) < len(data) - 1 * MiB


def test_cancel_removes_the_download_and_its_files(daemon, origin, tmp_path):
    origin.bandwidth = 1 * MiB
    url = origin.add_file("slow.bin", os.urandom(8 * MiB))
    token = CancelToken()
    threading.Timer(1.0, token.cancel).start()
    with pytest.raises(Cancelled):
        fetch(daemon, url, tmp_path / "w", cancel=token)
    assert list((tmp_path / "w").iterdir()) == []
    client = daemon.client()
    listed = client.tell_active() + client.tell_waiting(0, 100) + client.tell_stopped(0, 100)
    assert listed == []


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/a.mp4", "http://[::1]:1/a"],
)
def test_guard_refuses_private_addresses_for_aria2(daemon, tmp_path, target):
    with pytest.raises(BlockedAddress, match="Refused to fetch from"):
        fetch(daemon, target, tmp_path / "w")


def test_guard_refuses_a_redirect_aria2_follows_itself(daemon, origin, tmp_path):
    origin.add_file("inner.bin", b"secret")
    # allowed by name and address 127.0.0.1 only; 127.0.0.2 is another loopback address
    url = origin.redirect("go", f"http://127.0.0.2:{origin.port}/inner.bin")
    with pytest.raises(BlockedAddress, match="127.0.0.2"):
        fetch(daemon, url, tmp_path / "w")
    assert set(origin.paths()) == {"/go"}  # aria2c retried the hop; never reached the target
    assert not (tmp_path / "w" / PART_NAME).exists()


def test_guard_holds_for_the_whole_engine_with_aria2(daemon, origin, tmp_path):
    origin.add_file("inner.mp4", b"x" * 100)
    url = origin.redirect("go", "http://169.254.169.254/latest/meta-data/")
    hook = direct_engine("aria2", tmp_path / "data", DownloadOptions(), allowed_networks=ALLOWED)
    with pytest.raises(BlockedAddress, match="169.254.169.254"):
        download(url, tmp_path / "o.mp4", DownloadOptions(), work_dir=tmp_path / "w",
                 allowed_networks=ALLOWED, direct=hook)  # fmt: skip


def test_missing_binary_falls_back_with_a_log_line(tmp_path, caplog):
    lines: list[str] = []
    hook = direct_engine("aria2", tmp_path / "data", DownloadOptions(),
                         binary=str(tmp_path / "no-aria2c"), task_log=lines.append)  # fmt: skip
    assert hook is None
    assert lines and "using the built-in engine" in lines[0]
    assert direct_engine("builtin", tmp_path / "data", DownloadOptions()) is None
    assert not (tmp_path / "data" / "aria2").exists()


def test_daemon_that_will_not_start_falls_back(tmp_path):
    fake = tmp_path / "aria2c"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o700)
    lines: list[str] = []
    started = time.monotonic()
    hook = direct_engine("auto", tmp_path / "data", DownloadOptions(), binary=str(fake),
                         task_log=lines.append)  # fmt: skip
    assert hook is None and "did not start" in lines[0]
    assert time.monotonic() - started < 30


def test_cli_download_and_batch_use_aria2(origin, tmp_path):
    video = make_video(tmp_path / "src.mp4", seconds=1.0)
    url = origin.add_file("clip.mp4", video.read_bytes())
    origin.add_file("again.mp4", video.read_bytes())
    env = {**os.environ, "MEDIACRAFT_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "one.mp4"
    done = subprocess.run(
        [sys.executable, "-m", "mediacraft.cli", "download", url, "-o", str(out), "-q", "-v",
         "--engine", "aria2", "--allow-network", "127.0.0.1"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "aria2c: downloading" in done.stderr and out.read_bytes() == video.read_bytes()
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{url}\n{origin.url('again.mp4')}\n")
    batch = subprocess.run(
        [sys.executable, "-m", "mediacraft.cli", "batch", "--url-list", str(listing),
         "--output", str(tmp_path / "batch"), "--engine", "aria2", "-q",
         "--allow-network", "127.0.0.1"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert batch.returncode == 0, batch.stderr
    results = sorted((tmp_path / "batch").glob("*.mp4"))
    assert len(results) == 2 and all(p.read_bytes() == video.read_bytes() for p in results)
    # aria2c fetched every file (it sends Want-Digest; requests does not)
    by_aria2 = {e.path for e in origin.log if "Want-Digest" in e.headers}
    assert by_aria2 == {"/clip.mp4", "/again.mp4"}
    # each command started a daemon of its own and stopped it when it ended
    assert not (tmp_path / "data" / "aria2" / "daemon.json").exists()


def test_guard_proxy_serves_only_a_live_downloads_tunnels(origin):
    import base64
    import socket

    from mediacraft.aria2.proxy import GuardProxy

    proxy = GuardProxy()
    ticket = proxy.ticket(ALLOWED)

    def ask(request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(request)
            return sock.recv(200)

    target = f"127.0.0.1:{origin.port}".encode()
    auth = base64.b64encode(ticket.token.encode() + b":x")
    wrong = base64.b64encode(b"guess:x")
    try:
        assert ask(b"CONNECT " + target + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 407")
        assert ask(b"CONNECT " + target + b" HTTP/1.1\r\nProxy-Authorization: Basic "
                   + wrong + b"\r\n\r\n").startswith(b"HTTP/1.1 407")  # fmt: skip
        assert ask(b"GET http://" + target + b"/ HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405")
        inside = b"CONNECT 10.0.0.1:80 HTTP/1.1\r\nProxy-Authorization: Basic " + auth
        assert ask(inside + b"\r\n\r\n").startswith(b"HTTP/1.1 403")
        assert "10.0.0.1" in ticket.refusals[-1]
        good = b"CONNECT " + target + b" HTTP/1.1\r\nProxy-Authorization: Basic " + auth
        assert ask(good + b"\r\n\r\n").startswith(b"HTTP/1.1 200")
        # the origin's server thread counts the connection a moment after the tunnel answers
        wait_for(lambda: origin.accepted >= 1, what="the tunnel's connection at the origin")
        proxy.release(ticket)
        assert ask(good + b"\r\n\r\n").startswith(b"HTTP/1.1 407")
        assert origin.accepted == 1  # only the tunnel of the live download connected
    finally:
        proxy.stop()
