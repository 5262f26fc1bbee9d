"""The pages in a real browser: Debian's Chromium driven by Playwright, against gunicorn.

The app is served by ``tests.support.server.AppServer`` on 127.0.0.1 and downloads
from a loopback HLS origin (``tests.support.origin``). Screenshots of the pages go to
``tests/screenshots/`` (not committed).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api

from tests.support.media import make_video
from tests.support.origin import Origin, package_hls
from tests.support.server import AppServer

CHROMIUM = os.environ.get("MEDIACRAFT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP = {"width": 1100, "height": 760}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 45_000


def _require_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    reason = f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)



@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    root = tmp_path_factory.mktemp("origin")
    source = make_video(root / "src" / "clip.mp4", seconds=4.0, size="320x240", gop=25)
    package_hls(source, root / "show", segment=1.0)
    with Origin(root) as served:
        yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    where = tmp_path_factory.mktemp("web")
    app = AppServer(where / "data", workers=1)
    with app:
        yield app


@pytest.fixture(scope="module")
def visitor(browser) -> Iterator[object]:
    """One visitor (one cookie jar) shared by the module's tests, in file order."""
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(visitor) -> Iterator[object]:
    page = visitor.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text)
        if msg.type == "error" and "Content Security Policy" in msg.text
        else None,
    )
    try:
        yield page
    finally:
        page.close()
    assert errors == [], f"script errors or CSP violations: {errors}"


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_status(page, task_id: str, status: str) -> None:
    """Wait until the list shows the task in ``status``; on timeout, say what the API says."""
    try:
        page.wait_for_selector(
            f'.task-item[data-task-id="{task_id}"][data-status="{status}"]', timeout=TIMEOUT_MS
        )
    except sync_api.TimeoutError:
        base = page.url.split("/tasks", 1)[0]
        answer = page.request.get(f"{base}/api/tasks/{task_id}/status")
        try:
            task = answer.json().get("data")
        finally:
            answer.dispose()
        shown = page.locator(f'.task-item[data-task-id="{task_id}"]').get_attribute("data-status")
        raise AssertionError(f"page shows {shown!r}, expected {status!r}; API: {task}") from None


def created_id(page) -> str:
    page.wait_for_url(re.compile(r"/tasks\?created="))
    return page.url.split("created=", 1)[1]


# --- the tests, in the order a visitor meets the pages ------------------------------------
def test_first_visit_shows_an_empty_list(browser, server) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    try:
        page = context.new_page()
        page.goto(server.url + "/tasks")
        empty = page.locator("#empty")
        empty.wait_for(state="visible")
        assert empty.inner_text() == "You have no tasks yet."
        assert page.locator(".task-item").count() == 0
        assert page.locator("#page-info").inner_text() == "Page 1 of 1"
        assert page.locator("h1").inner_text() == "My tasks"
    finally:
        context.close()


def test_download_from_the_page_plays_in_the_player(page, server, origin) -> None:
    page.goto(server.url + "/")
    page.get_by_label("Link", exact=True).fill(origin.url("show/index.m3u8"))
    page.get_by_label("Name (optional)").fill("Loopback show")
    page.get_by_label("Quality").select_option("720p")
    page.get_by_label("Profile").select_option("fast")
    shot(page, "create-download")
    page.get_by_role("button", name="Start download").click()
    task_id = created_id(page)

    wait_for_status(page, task_id, "completed")
    item = page.locator(f'.task-item[data-task-id="{task_id}"]')
    assert item.locator(".percent").inner_text() == "100%"
    assert item.locator("progress").evaluate("p => p.value") == 100
    assert item.get_by_role("link", name="Download").get_attribute("href") == (
        f"/api/tasks/{task_id}/download"
    )
    shot(page, "tasks-first-download")

    item.get_by_role("link", name="Loopback show").click()
    page.wait_for_url(f"**/tasks/{task_id}")
    page.wait_for_function(
        "() => { const v = document.querySelector('#t-video');"
        " return v && v.readyState >= 1 && v.duration > 0; }",
        timeout=TIMEOUT_MS,
    )
    duration = page.eval_on_selector("#t-video", "v => v.duration")
    assert 3.0 < duration < 5.5
    assert page.locator("#t-status").inner_text() == "Completed"
    assert page.locator("#t-percent").inner_text() == "100%"
    assert page.locator("#t-download").is_visible()
    shot(page, "task-detail")


def test_watermark_flow_draws_a_region_and_completes(page, server, tmp_path) -> None:
    video = make_video(tmp_path / "marked.mp4", seconds=2.0, size="320x240", box=(200, 20, 80, 30))
    page.goto(server.url + "/")
    page.get_by_role("tab", name="Remove a watermark").click()
    page.get_by_label("Video file").set_input_files(str(video))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.locator("#wm-config-form").wait_for(state="visible")
    assert page.locator("#wm-progress").evaluate("p => p.value") == 100

    # Choose frame 10 by number; the slider follows and the frame image reloads.
    number = page.get_by_label("Frame number")
    number.fill("10")
    number.press("Enter")
    page.wait_for_function(
        "() => { const i = document.querySelector('#wm-frame');"
        " return i.dataset.loaded === '10' && i.naturalWidth > 0; }"
    )
    assert page.locator("#wm-frame-range").input_value() == "10"

    # Draw a rectangle over the "watermark" (video pixels 200,20 .. 280,50).
    canvas = page.locator("#wm-canvas")

    def on_screen() -> dict:
        canvas.evaluate("c => c.scrollIntoView({block: 'center'})")
        box = canvas.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"]
        return box

    box = on_screen()

    def at(x: float, y: float) -> tuple[float, float]:
        scale = box["width"] / 320
        return box["x"] + x * scale, box["y"] + y * scale

    page.mouse.move(*at(190, 12))
    page.mouse.down()
    page.mouse.move(*at(240, 40), steps=4)
    page.mouse.move(*at(285, 55), steps=4)
    page.mouse.up()
    assert page.locator("#wm-regions li").count() == 1
    # Draw a second one and delete it with its button; then move the first by dragging.
    page.mouse.move(*at(20, 150))
    page.mouse.down()
    page.mouse.move(*at(60, 200), steps=3)
    page.mouse.up()
    assert page.locator("#wm-regions li").count() == 2
    page.get_by_role("button", name="Delete region 2").click()
    assert page.locator("#wm-regions li").count() == 1
    box = on_screen()
    page.mouse.move(*at(230, 30))
    page.mouse.down()
    page.mouse.move(*at(240, 35), steps=3)
    page.mouse.move(*at(242, 38), steps=2)
    page.mouse.up()
    shown = re.findall(r"\d+", page.locator("#wm-regions li span").inner_text())
    assert abs(int(shown[1]) - 202) <= 2 and abs(int(shown[2]) - 20) <= 2, shown
    assert page.locator("#wm-config-form .message").is_hidden()
    shot(page, "create-watermark")

    with page.expect_request(lambda r: r.url.endswith("/config")) as request_info:
        page.get_by_role("button", name="Remove watermark").click()
    payload = request_info.value.post_data_json
    assert payload["selected_frame"] == 10
    [[x, y, w, h]] = payload["regions"]
    assert all(isinstance(v, int) for v in (x, y, w, h))
    assert abs(x - 202) <= 2 and abs(y - 20) <= 2  # drawn at (190, 12), moved by (12, 8)
    assert abs(w - 95) <= 3 and abs(h - 43) <= 3
    task_id = created_id(page)
    wait_for_status(page, task_id, "completed")


def test_merge_flow_orders_clips(page, server, tmp_path) -> None:
    first = make_video(tmp_path / "first.mp4", seconds=1.0, size="160x120")
    second = make_video(tmp_path / "second.mp4", seconds=1.0, size="160x120")
    page.goto(server.url + "/#merge")
    page.get_by_label("Video clips").set_input_files([str(first), str(second)])
    page.get_by_role("button", name="Upload clips").click()
    page.locator("#mg-order-form").wait_for(state="visible")
    names = page.locator(".clip-name")
    assert names.all_inner_texts() == ["first.mp4", "second.mp4"]
    page.get_by_role("button", name="Move second.mp4 up").press("Enter")  # keyboard
    assert names.all_inner_texts() == ["second.mp4", "first.mp4"]
    with page.expect_request(lambda r: r.url.endswith("/config")) as request_info:
        page.get_by_role("button", name="Merge", exact=True).click()
    assert request_info.value.post_data_json == {"order": [1, 0]}
    wait_for_status(page, created_id(page), "completed")


def test_cancel_retry_and_delete_selected_from_the_list(page, server, origin) -> None:
    origin.latency = 1.0  # slow enough to cancel while it runs
    try:
        page.goto(server.url + "/")
        page.get_by_label("Link", exact=True).fill(origin.url("show/index.m3u8"))
        page.get_by_label("Name (optional)").fill("Slow show")
        page.get_by_label("Profile").select_option("low_bandwidth")
        page.get_by_role("button", name="Start download").click()
        task_id = created_id(page)
        item = page.locator(f'.task-item[data-task-id="{task_id}"]')
        item.get_by_role("button", name="Cancel Slow show").click()
        wait_for_status(page, task_id, "cancelled")
    finally:
        origin.latency = 0.0
    with page.expect_request(lambda r: r.url.endswith(f"/api/events?task_id={task_id}")):
        item.get_by_role("button", name="Retry Slow show").click()  # the visitor's one stream
    wait_for_status(page, task_id, "completed")
    before = page.locator(".task-item").count()
    assert page.get_by_role("button", name="Delete selected").is_disabled()
    item.get_by_role("checkbox", name="Select Slow show").check()
    page.get_by_role("button", name="Delete selected").click()  # confirm() is accepted
    item.wait_for(state="detached")
    assert page.locator(".task-item").count() == before - 1
    assert page.locator("#list-message").inner_text() == "Tasks deleted: 1"
    shot(page, "tasks")


def test_task_detail_follows_progress_live(page, server, origin) -> None:
    origin.latency = 0.8
    try:
        answer = page.request.post(
            server.url + "/api/tasks/create",
            data={"task_type": "download", "url": origin.url("show/index.m3u8"),
                  "name": "Watched show", "options": {"profile": "low_bandwidth"}},
        )  # fmt: skip
        task_id = answer.json()["data"]["task_id"]
        answer.dispose()
        page.goto(server.url + f"/tasks/{task_id}")
        page.wait_for_function(
            "() => document.querySelector('#t-status').dataset.status === 'processing'"
            " && /^\\d+ \\/ 4$/.test(document.querySelector('#t-segments').textContent)"
        )
        assert page.locator("#t-status").inner_text() == "Processing"
        page.get_by_role("button", name="Cancel").click()  # confirm() is accepted
        page.wait_for_selector("#t-status[data-status=cancelled]")
    finally:
        origin.latency = 0.0
    assert page.locator("#t-retry").is_visible() and page.locator("#t-result").is_hidden()
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url("**/tasks")


def test_live_recording_is_started_from_the_form_and_stopped_with_its_button(
    page, server, origin
) -> None:
    from tests.support.streams import LiveFeed, build_live_source

    playlist = build_live_source(origin.root, seconds=30, segment=0.5)
    LiveFeed.from_vod(origin, playlist, "live/live.m3u8", window=4, initial=6)
    page.goto(server.url + "/")
    page.get_by_label("Link", exact=True).fill(origin.url("live/live.m3u8"))
    page.get_by_label("Name (optional)").fill("On air")
    page.locator(".more-options summary").click()
    page.get_by_label("Recording length for a live stream (minutes)").fill("2")
    with page.expect_request(lambda r: r.url.endswith("/api/tasks/create")) as request_info:
        page.get_by_role("button", name="Start download").click()
    assert request_info.value.post_data_json["options"]["record_seconds"] == 120
    task_id = created_id(page)
    page.goto(server.url + f"/tasks/{task_id}")
    page.wait_for_function(
        "() => document.querySelector('#t-stage').textContent === 'Recording the live stream'"
        " && /^[1-9]\\d* s \\/ 2 min 0 s$/.test(document.querySelector('#t-recorded').textContent)"
    )
    stop = page.get_by_role("button", name="Stop recording")
    assert stop.is_visible()
    shot(page, "task-live")
    stop.click()  # confirm() is accepted
    page.wait_for_selector("#t-status[data-status=completed]")
    assert page.locator("#t-stop").is_hidden()
    page.locator("#t-log-box summary").click()
    page.wait_for_function("() => document.querySelectorAll('#t-log li').length >= 3")
    log = page.locator("#t-log").inner_text()
    assert "Live stream: recording 120 s" in log and "stopped at your request" in log
    assert page.locator("#t-tracks").inner_text() == "Audio: unknown language"


def test_dash_audio_clip_with_a_cookies_file_from_the_form(page, server, origin, tmp_path) -> None:
    from tests.support.dash import package_dash

    package_dash(origin.root / "src" / "clip.mp4", origin.root / "dash")
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n"
                       "127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tformvalue\n")  # fmt: skip
    origin.clear_log()
    page.goto(server.url + "/")
    assert "Paste a page, a playlist or a file link" in page.locator("#panel-download").inner_text()
    page.get_by_label("Link", exact=True).fill(origin.url("dash/manifest.mpd"))
    page.get_by_label("Name (optional)").fill("Seaside audio")
    page.locator(".more-options summary").click()
    page.get_by_label("Save as").select_option("m4a")
    page.get_by_label("From", exact=True).fill("0:01")
    page.get_by_label("To", exact=True).fill("3")
    page.get_by_label("Cookies file (optional)").set_input_files(str(cookies))
    shot(page, "create-download-options")
    with page.expect_request(lambda r: r.url.endswith("/api/tasks/create")) as request_info:
        page.get_by_role("button", name="Start download").click()
    sent = request_info.value.post_data_json
    assert sent["options"]["container"] == "m4a"
    assert (sent["options"]["start"], sent["options"]["end"]) == ("0:01", "3")
    assert "formvalue" in sent["cookies"]
    task_id = created_id(page)
    wait_for_status(page, task_id, "completed")
    item = page.locator(f'.task-item[data-task-id="{task_id}"]')
    assert item.get_by_role("link", name="Download").is_visible()
    media = [e for e in origin.log if e.path.startswith("/dash/chunk")]
    assert media and all(e.headers.get("Cookie") == "sid=formvalue" for e in media)
    assert not any("stream0" in e.path for e in media)  # audio only: no video segment


def test_failed_task_shows_its_message_and_a_hint(page, server, origin) -> None:
    answer = page.request.post(
        server.url + "/api/tasks/create",
        data={"task_type": "download", "url": origin.url("gone/index.m3u8"),
              "options": {"profile": "fast"}},
    )  # fmt: skip
    task_id = answer.json()["data"]["task_id"]
    answer.dispose()
    page.goto(server.url + f"/tasks/{task_id}?lang=zh")
    page.wait_for_selector("#t-status[data-status=failed]")
    error = page.locator("#t-error")
    assert error.is_visible() and "任务失败" in error.inner_text()
    assert "404" in error.locator(".error-message").inner_text()
    assert "链接可能已过期" in error.locator(".error-hint").inner_text()
    assert page.locator("#t-retry").is_visible()
    shot(page, "task-failed-zh")
    page.get_by_role("button", name="删除").click()
    page.wait_for_url("**/tasks")
    page.goto(server.url + "/tasks?lang=en")


def test_server_errors_are_shown_in_the_visitors_language(page, server) -> None:
    page.goto(server.url + "/?lang=zh")
    page.get_by_label("链接", exact=True).fill("ftp://example.com/video.m3u8")
    page.get_by_role("button", name="开始下载").click()
    message = page.locator("#download-form .message.error")
    message.wait_for(state="visible")
    text = message.inner_text()
    assert "链接必须以 http:// 或 https:// 开头。" in text, text
    assert "url must be an http or https link" in text  # the server's own words follow
    page.goto(server.url + "/?lang=en")


def test_switching_to_chinese(page, server) -> None:
    page.goto(server.url + "/tasks")
    page.locator(".task-item").first.wait_for()
    page.get_by_role("link", name="中文").click()
    page.wait_for_url("**lang=zh")
    assert page.locator("h1").inner_text() == "我的任务"
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    page.locator(".task-item").first.wait_for()
    assert "已完成" in page.locator(".badge").all_inner_texts()
    page.get_by_text("我的", exact=True).click()
    assert page.get_by_role("link", name="任务列表").is_visible()
    shot(page, "tasks-zh")
    # The choice is remembered by a cookie on the next page.
    page.goto(server.url + "/")
    assert page.locator("h1").inner_text() == "创建任务"
    shot(page, "create-zh")
    page.get_by_role("link", name="English").click()
    page.wait_for_url("**lang=en")
    assert page.locator("h1").inner_text() == "Create a task"


def test_same_cookie_same_tasks_other_visitor_none(browser, visitor, server) -> None:
    def names(context) -> list[str]:
        page = context.new_page()
        try:
            page.goto(server.url + "/tasks")
            page.wait_for_selector("#task-list[aria-busy=false]", state="attached")
            return sorted(page.locator(".task-name").all_inner_texts())
        finally:
            page.close()

    mine = names(visitor)
    assert len(mine) >= 3
    cookies = [c for c in visitor.cookies() if c["name"] == "mc_uid"]
    assert cookies and cookies[0]["httpOnly"]

    again = browser.new_context(viewport=DESKTOP)
    stranger = browser.new_context(viewport=DESKTOP)
    try:
        again.add_cookies(cookies)
        assert names(again) == mine
        assert names(stranger) == []
        # Nor can the stranger open one of them.
        response = stranger.new_page().goto(server.url + "/tasks/" + task_ids(visitor, server)[0])
        assert response.status == 404
    finally:
        again.close()
        stranger.close()


def task_ids(context, server) -> list[str]:
    answer = context.request.get(server.url + "/api/user/tasks")
    try:
        return [t["task_id"] for t in answer.json()["data"]["tasks"]]
    finally:
        answer.dispose()


def test_phone_width(browser, visitor, server) -> None:
    phone = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    try:
        phone.add_cookies([c for c in visitor.cookies() if c["name"] == "mc_uid"])
        page = phone.new_page()
        first = task_ids(visitor, server)[-1]
        for name, path in (("phone-create", "/"), ("phone-tasks", "/tasks"),
                           ("phone-task", f"/tasks/{first}")):  # fmt: skip
            page.goto(server.url + path)
            page.wait_for_load_state("networkidle")  # finished tasks: no open event stream
            if path == "/tasks":
                page.locator(".task-item").first.wait_for()
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width}px wide on a phone"
            shot(page, name)
    finally:
        phone.close()


def test_pages_poll_when_the_live_stream_is_refused(browser, origin, tmp_path_factory) -> None:
    """Past the server's stream caps the stream answers 429: the list polls instead."""
    where = tmp_path_factory.mktemp("no-streams")
    with AppServer(where / "data", workers=1, max_event_streams_per_user=0) as refusing:
        context = browser.new_context(viewport=DESKTOP, locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        refused: list[str] = []
        polled: list[str] = []

        def seen(response) -> None:
            if "/api/events" in response.url and response.status == 429:
                refused.append(response.url)
            elif response.url.endswith("/status") and response.status == 200:
                polled.append(response.url)

        page.on("response", seen)
        origin.latency = 0.3  # the download runs while the page watches it
        try:
            page.goto(refusing.url + "/tasks")
            answer = page.request.post(
                refusing.url + "/api/tasks/create",
                data={"task_type": "download", "url": origin.url("show/index.m3u8"),
                      "name": "Polled show"},
            )  # fmt: skip
            task_id = answer.json()["data"]["task_id"]
            answer.dispose()
            page.reload()
            wait_for_status(page, task_id, "completed")
        finally:
            origin.latency = 0.0
            context.close()
    assert refused, "the page never asked for the stream"
    assert any(task_id in url for url in polled), "the page did not fall back to polling"
