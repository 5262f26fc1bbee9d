"""The JianYing draft tab and the task page's materials table in Chromium, under gunicorn.

Two gunicorn workers with the aria2 engine on: they share one aria2c daemon,
and stopping the server stops it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediacraft.aria2 import find_binary
from mediacraft.liveness import process_alive
from tests.support.media import make_video
from tests.support.origin import Origin
from tests.support.server import AppServer
from tests.test_browser import DESKTOP, TIMEOUT_MS, shot


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    root = tmp_path_factory.mktemp("draft-origin")
    with Origin() as served:
        for i, seconds in enumerate((1.0, 2.0), start=1):
            clip = make_video(root / f"c{i}.mp4", seconds=seconds, size="160x120")
            served.add_file(f"c{i}.mp4", clip.read_bytes())
        yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    if find_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("aria2c is not installed (.ci/run installs it)")
        pytest.skip("aria2c is not installed")
    where = tmp_path_factory.mktemp("draft-web")
    with AppServer(where / "data", workers=2, download_engine="aria2") as app:
        yield app


def test_draft_tab_builds_a_draft_and_shows_each_file(browser, server, origin) -> None:
    for locale, lang in (("zh-CN", "zh"), ("en-US", "en")):
        context = browser.new_context(viewport=DESKTOP, locale=locale)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.goto(f"{server.url}/?lang={lang}#draft")
        if lang == "zh":
            assert page.get_by_role("tab", name="剪映草稿").get_attribute("aria-selected") == "true"
            page.get_by_label("视频：每行一个链接，按顺序").fill(
                origin.url("c1.mp4") + "\n" + origin.url("c2.mp4")
            )
            page.get_by_label("画布宽度（像素）").fill("720")
            page.get_by_label("画布高度（像素）").fill("1280")
            page.get_by_label("帧率（fps）").fill("24")
            page.get_by_role("button", name="生成草稿").click()
        else:
            page.get_by_label("Videos: one link per line, in order").fill(origin.url("c2.mp4"))
            page.get_by_label("Canvas width (pixels)").fill("0")
            page.get_by_role("button", name="Build the draft").click()
            message = page.locator("#draft-form .message.error")
            message.wait_for(state="visible")
            assert "The request was not accepted." in message.inner_text()
            assert "draft_config.canvas_width" in message.locator(".details").inner_text()
            assert "/tasks/" not in page.url
            page.get_by_label("Canvas width (pixels)").fill("640")
            page.get_by_label("Draft name").fill("Page draft")
            page.get_by_role("button", name="Build the draft").click()
        page.wait_for_url("**/tasks/*")
        page.wait_for_selector('#t-status[data-status="completed"]', timeout=TIMEOUT_MS)
        rows = page.locator("#t-draft-files tr")
        expected = 2 if lang == "zh" else 1
        assert rows.count() == expected
        states = rows.evaluate_all("rs => rs.map(r => r.dataset.status)")
        assert states == ["completed"] * expected
        summary = page.locator("#t-draft-summary").inner_text()
        assert (f"已下载 {expected} / {expected}" in summary) if lang == "zh" else (
            f"{expected} of {expected} files downloaded" in summary
        )
        assert page.locator("#t-video").is_hidden()
        assert page.locator("#t-download").is_visible()
        shot(page, f"task-draft-{lang}")
        assert errors == []
        context.close()


def test_two_workers_share_one_aria2c_and_stop_it_with_the_server(server) -> None:
    state = json.loads(Path(server.data_dir / "aria2" / "daemon.json").read_text())
    pid = state["pid"]
    assert process_alive(pid)
    mine = [
        p for p in Path("/proc").iterdir() if p.name.isdigit()
        and str(server.data_dir.resolve() / "aria2") in _cmdline(p)
    ]  # fmt: skip
    assert [int(p.name) for p in mine] == [pid]  # one daemon, whichever worker ran the tasks
    server.stop()
    assert not process_alive(pid)


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
