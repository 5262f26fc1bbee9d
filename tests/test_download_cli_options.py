"""``mediacraft download`` with DASH, pages, a time range, a container and a cookies file."""

from __future__ import annotations

import pytest

from mediacraft.cli import main
from tests.support.dash import DashMedia, build_dash
from tests.support.decode import decode_all
from tests.support.origin import Origin

ALLOW = ["--allow-network", "127.0.0.1"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> DashMedia:
    return build_dash(tmp_path_factory.mktemp("cli"))


@pytest.fixture
def origin(media: DashMedia):
    with Origin(media.root) as server:
        yield server


def test_dash_time_range_container_cookies_and_identity(origin, tmp_path, capsys):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n"
                       "127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tcli-secret\n")  # fmt: skip
    out = tmp_path / "clip.mp4"
    code = main([
        "download", origin.url("multi/manifest.mpd"), "-o", str(out), "-q", *ALLOW,
        "--audio-lang", "zh", "--container", "mkv", "--start", "0:01", "--end", "3",
        "--precise-cut", "--cookies", str(cookies), "--user-agent", "CLI/1",
        "--referer", "https://example.invalid/", "--subs", "none",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    result = tmp_path / "clip.mkv"  # the container's suffix
    assert result.exists() and not out.exists()
    assert str(result) in err
    assert decode_all(result)["video"] == 50  # 2 s at 25 fps, cut at the exact frames
    assert all(e.headers.get("Cookie") == "sid=cli-secret" for e in origin.log)
    assert all(e.headers.get("User-Agent") == "CLI/1" for e in origin.log)
    assert not any("00004" in p for p in origin.paths())  # the last second was not fetched


def test_a_page_link_from_the_command_line(origin, tmp_path, capsys):
    url = origin.add_file("watch.html", b"<!doctype html><html><head><title>Watch</title></head>"
                                        b'<body><video src="/src/hi.mp4"></video></body></html>')
    out = tmp_path / "v.mp4"
    assert main(["download", url, "-o", str(out), "-q", *ALLOW]) == 0, capsys.readouterr().err
    assert decode_all(out)["video"] == 100


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--start", "5", "--end", "2"], "end (2 s) must be after start (5 s)"),
     (["--start", "soon"], "--start 'soon' must be seconds or hh:mm:ss"),
     (["--cookies", "COOKIES"], "not in Netscape format: line 1")],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, extra, message):
    (tmp_path / "COOKIES").write_text("sid=abc\n")
    extra = [str(tmp_path / "COOKIES") if e == "COOKIES" else e for e in extra]
    code = main(["download", "http://127.0.0.1:9/x.mpd", "-o", str(tmp_path / "o.mp4"), "-q",
                 *ALLOW, *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1
