"""What a command loads before it starts working.

A short ``mediacraft download`` of a file is dominated by its start-up: the
modules of the web app, storage, the batch engine, PyAV, rich and yt-dlp
must not be imported before the first request (PyAV is loaded by the engine
in the background while the transfer runs, yt-dlp only for a page). The
first request of a download goes out before requests and the engine are
imported (download/first.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.media import make_video
from tests.support.origin import Origin

HEAVY = ("av", "flask", "rich", "yt_dlp", "cv2", "numpy", "mediacraft.storage",
         "mediacraft.web", "mediacraft.cli.batch")  # fmt: skip


def loaded_after(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running ``code``."""
    report = f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    probe = f"{code}\nimport json, sys\n{report}"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_download_engine_loads_none_of_the_heavy_modules() -> None:
    assert loaded_after("import mediacraft.download.engine") == []


def test_the_media_package_loads_pyav_only_when_a_name_needs_it() -> None:
    assert loaded_after("import mediacraft.media\nfrom mediacraft.media import BITEXACT") == []
    assert "av" in loaded_after("from mediacraft.media import probe_streams")


def test_media_probe_stays_the_function_after_its_module_is_loaded() -> None:
    # a module of the same name is bound to the package when it is first imported
    code = ("from mediacraft.media.probe import probe_streams\nimport mediacraft.media\n"
            "assert callable(mediacraft.media.probe) and not isinstance(mediacraft.media.probe, "
            "type(mediacraft.media)), mediacraft.media.probe")  # fmt: skip
    loaded_after(code)


def test_a_named_subcommand_registers_only_its_own_module() -> None:
    code = "from mediacraft.cli import build_parser\nbuild_parser('download')"
    assert loaded_after(code) == []
    # the full parser (``mediacraft --help``) still knows every subcommand
    everything = "from mediacraft.cli import build_parser\nbuild_parser()"
    assert "mediacraft.cli.batch" in loaded_after(everything)


@pytest.mark.parametrize("command", ["download", "batch", "cleanup", "migrate"])
def test_each_subcommand_still_answers_its_help(command: str) -> None:
    out = subprocess.run([sys.executable, "-m", "mediacraft.cli", command, "--help"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"mediacraft {command}" in out.stdout


def test_an_unknown_subcommand_is_a_usage_error() -> None:
    out = subprocess.run([sys.executable, "-m", "mediacraft.cli", "donwload", "x"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def test_a_download_sends_its_first_request_before_requests_is_imported(tmp_path) -> None:
    clip = make_video(tmp_path / "clip.mp4", 1.0, "160x120", 25)
    with Origin() as origin:
        url = origin.add_file("clip.mp4", clip.read_bytes())
        code = (
            "import sys\n"
            "from mediacraft.download import first\n"
            "send = first.FirstRequest._send\n"
            "def spy(self, url):\n"
            "    print('requests' in sys.modules, 'mediacraft.download.engine' in sys.modules,\n"
            "          file=sys.stderr, flush=True)\n"
            "    return send(self, url)\n"
            "first.FirstRequest._send = spy\n"
            "from mediacraft.cli import entry\n"
            f"sys.argv = ['mediacraft', 'download', {url!r}, '-o', {str(tmp_path / 'o.mp4')!r},\n"
            "            '--allow-network', '127.0.0.1', '--json']\n"
            "entry()\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60)  # fmt: skip
        assert len(origin.log) == 1  # the first request was the download's only one
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[0] == "False False"
    # the process ended by os._exit: what it printed last was flushed all the same
    assert out.stderr.splitlines()[-1].startswith(f"{tmp_path / 'o.mp4'}  ")
    done = json.loads(out.stdout.strip().splitlines()[-1])
    assert done["event"] == "done" and done["path"] == str(tmp_path / "o.mp4")
    assert (tmp_path / "o.mp4").read_bytes() == clip.read_bytes()
