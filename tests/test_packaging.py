"""The built wheel is a working app: installed into a fresh venv, started from elsewhere.

``python -m build`` makes the sdist and, from it, the wheel (so both carry the
templates and the catalogs); pip installs the wheel (not ``-e``) into a new
virtual environment; ``mediacraft serve`` runs from an unrelated directory
and answers the pages, a Chinese page and a static file, without writing
anything into its install tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

from tests.support.server import ROOT, free_port

pytestmark = pytest.mark.timeout(600)


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=480, check=False, **kwargs
    )
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{command} failed:\n{output}"
    return result


def tree(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``directory`` (bytecode caches aside) with its size and mtime."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend (hatchling, babel) comes from the test extra
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)])
    wheels = list(dist.glob("mediacraft-*.whl"))
    assert len(wheels) == 1 and list(dist.glob("mediacraft-*.tar.gz"))
    return wheels[0]


def test_the_wheel_carries_templates_static_files_and_compiled_catalogs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").glob("*.html"):
        assert f"mediacraft/templates/{template.name}" in names
    assert "mediacraft/static/css/app.css" in names
    assert "mediacraft/translations/zh/LC_MESSAGES/messages.mo" in names
    assert not [n for n in names if n.endswith(".po")]  # sources stay in the sdist


def test_installed_wheel_serves_the_pages_from_another_directory(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIACRAFT_", "PYTHON"))}
    env["MEDIACRAFT_DATA_DIR"] = str(tmp_path / "data")
    where = run(
        [str(venv / "bin" / "python"), "-c", "import mediacraft; print(mediacraft.__file__)"],
        cwd=elsewhere, env=env,
    ).stdout.strip()  # fmt: skip
    installed = Path(where).parent
    assert installed.is_relative_to(venv), where  # the wheel's copy, not this checkout
    before = tree(installed)

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "mediacraft"), "serve", "--port", str(port)],
            cwd=elsewhere, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                requests.get(base + "/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        home = requests.get(base + "/", timeout=10)
        assert home.status_code == 200, log.read_text()[-3000:]
        assert "<form" in home.text
        chinese = requests.get(base + "/tasks?lang=zh", timeout=10)
        assert chinese.status_code == 200
        assert "我的任务" in chinese.text  # the compiled catalog is in use
        css = requests.get(base + "/static/css/app.css", timeout=10)
        assert css.status_code == 200
        assert css.content == (ROOT / "mediacraft" / "static" / "css" / "app.css").read_bytes()
    finally:
        proc.terminate()
        proc.wait(30)
    assert tree(installed) == before  # nothing compiled or written into the install tree
    assert not list(elsewhere.iterdir())  # nor into the directory it was started from
