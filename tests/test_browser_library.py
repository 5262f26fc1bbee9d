"""The library, sharing, other devices, notifications and resumable uploads in real Chromium.

Same set-up as ``test_browser.py``: Debian's Chromium through Playwright, the app under
gunicorn on 127.0.0.1, media from a loopback origin.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.media import FFMPEG, make_video
from tests.support.origin import Origin
from tests.support.server import AppServer
from tests.support.waiting import wait_for
from tests.test_browser import (
    DESKTOP,
    TIMEOUT_MS,
    shot,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("library-origin")
    make_video(root / "wide.mp4", seconds=4.0, size="1280x720")
    make_video(root / "small.mp4", seconds=2.0, size="320x240")
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "sine=frequency=440:duration=3", "-c:a", "aac", str(root / "tone.m4a")],
        check=True, timeout=120,
    )  # fmt: skip
    return root


@pytest.fixture(scope="module")
def origin(media: Path) -> Iterator[Origin]:
    with Origin(media) as served:
        yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with AppServer(tmp_path_factory.mktemp("library-web") / "data", workers=1) as app:
        yield app


def new_context(browser, **options):
    context = browser.new_context(viewport=DESKTOP, locale="en-US", **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def open_page(context):
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text)
        if msg.type == "error" and "Content Security Policy" in msg.text
        else None,
    )
    page.errors = errors
    return page


def api(page, method: str, url: str, body: dict | None = None) -> dict:
    answer = page.request.fetch(url, method=method, data=body)
    try:
        return answer.json()
    finally:
        answer.dispose()


def completed_download(page, server, origin, path: str, name: str) -> str:
    created = api(page, "POST", server.url + "/api/tasks/create",
                  {"task_type": "download", "url": origin.url(path), "name": name})  # fmt: skip
    task_id = created["data"]["task_id"]
    page.wait_for_function(
        "async (url) => { const r = await fetch(url); const b = await r.json();"
        " return b.data.status === 'completed'; }",
        arg=f"{server.url}/api/tasks/{task_id}/status",
        polling=200,
        timeout=TIMEOUT_MS,
    )
    return task_id


def test_posters_filters_tags_and_a_share_link(browser, server, origin) -> None:
    context = new_context(browser)
    try:
        page = open_page(context)
        page.goto(server.url + "/tasks")
        wide = completed_download(page, server, origin, "wide.mp4", "Wide clip")
        small = completed_download(page, server, origin, "small.mp4", "Small clip")
        tone = completed_download(page, server, origin, "tone.m4a", "Tone")
        page.goto(server.url + "/tasks")
        row = page.locator(f'.task-item[data-task-id="{wide}"]')
        poster = row.locator(".task-poster img")
        poster.wait_for()
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth === 320", arg=poster.element_handle()
        )
        assert row.locator(".duration-badge").inner_text() == "4 s"
        audio = page.locator(f'.task-item[data-task-id="{tone}"] .audio-icon')
        assert audio.get_attribute("aria-label") == "Audio only"
        assert page.locator(f'.task-item[data-task-id="{tone}"] img').count() == 0

        # filters go into the URL; the bookmarked view comes back filtered
        page.get_by_label("Resolution").select_option("720p")
        page.wait_for_url("**/tasks?resolution=720p")
        page.locator(f'.task-item[data-task-id="{small}"]').wait_for(state="detached")
        assert page.locator(".task-item").count() == 1
        page.get_by_label("Sort").select_option("-duration")
        page.wait_for_url("**/tasks?resolution=720p&sort=-duration")
        page.reload()
        assert page.get_by_label("Resolution").input_value() == "720p"
        page.locator(f'.task-item[data-task-id="{wide}"]').wait_for()
        assert page.locator(".task-item").count() == 1

        # tags on the task page, then the list filtered by clicking one
        page.goto(f"{server.url}/tasks/{small}")
        page.get_by_label("New tag").fill("holiday")
        page.get_by_role("button", name="Add tag").click()
        page.get_by_role("link", name="holiday").wait_for()
        page.get_by_label("New tag").fill("x" * 40 + "y")  # maxlength keeps it to 40
        assert len(page.get_by_label("New tag").input_value()) == 40
        page.get_by_role("link", name="holiday").click()
        page.wait_for_url("**/tasks?tag=holiday")
        page.locator(f'.task-item[data-task-id="{small}"]').wait_for()
        assert page.locator(".task-item").count() == 1

        # the player shows the poster; a share link works in a fresh browser until revoked
        page.goto(f"{server.url}/tasks/{wide}")
        page.wait_for_function(
            "() => (document.querySelector('#t-video').getAttribute('poster') || '')"
            ".includes('/poster')"
        )
        page.get_by_label("Valid for").select_option("3600")
        page.get_by_role("button", name="Create share link").click()
        link = page.locator(".share-url").first
        link.wait_for()
        url = link.input_value()
        assert f"/s/{wide}/" in url
        shot(page, "task-share")
        stranger = new_context(browser)
        try:
            answer = stranger.request.get(url)
            assert answer.status == 200 and answer.body()[4:8] == b"ftyp"
            answer.dispose()
            page.get_by_role("button", name="Revoke").click()
            page.get_by_text("Share link revoked.").wait_for()
            view = stranger.new_page()
            response = view.goto(url)
            assert response.status == 410
            assert view.locator("h1").inner_text() == "This link was revoked"
        finally:
            stranger.close()
        assert page.errors == []
    finally:
        context.close()


def test_player_resumes_where_the_visitor_stopped(browser, server, origin) -> None:
    context = new_context(browser)
    try:
        page = open_page(context)
        page.goto(server.url + "/tasks")
        task_id = completed_download(page, server, origin, "wide.mp4", "Resume me")
        page.goto(f"{server.url}/tasks/{task_id}")
        page.wait_for_function("() => document.querySelector('#t-video').readyState >= 1")
        page.eval_on_selector("#t-video", "v => { v.muted = true; v.currentTime = 2.5; }")
        page.wait_for_function(
            "(id) => Object.keys(localStorage).some(k => k.startsWith('mc-pos:' + id)"
            " && parseFloat(localStorage.getItem(k)) >= 2)",
            arg=task_id,
        )
        page.reload()
        page.wait_for_function("() => document.querySelector('#t-video').dataset.resumedAt")
        resumed = page.eval_on_selector("#t-video", "v => v.currentTime")
        assert 2.0 <= resumed <= 3.0
        assert page.errors == []
    finally:
        context.close()


def test_tasks_on_another_device_and_deleting_everything(browser, server, origin) -> None:
    laptop, phone = new_context(browser), new_context(browser)
    try:
        page = open_page(laptop)
        page.goto(server.url + "/tasks")
        task_id = completed_download(page, server, origin, "small.mp4", "Mine")
        page.goto(server.url + "/account")
        page.get_by_role("button", name="Create a device link").click()
        qr = page.get_by_role("img", name="QR code of the device link")
        qr.wait_for()
        assert qr.get_attribute("src").startswith("data:image/svg+xml")
        url = page.get_by_label("Link", exact=True).input_value()
        shot(page, "account-device-link")

        other = open_page(phone)
        other.goto(url)
        other.get_by_role("button", name="Open the tasks here").click()
        other.wait_for_url("**/tasks")
        other.locator(f'.task-item[data-task-id="{task_id}"]').wait_for()

        reused = open_page(phone)
        response = reused.goto(url)
        assert response.status == 410
        assert reused.locator("h1").inner_text() == "This link was already used"

        page.get_by_role("button", name="Delete everything about me").click()  # confirms
        page.wait_for_url("**/tasks")
        page.locator("#empty").wait_for(state="visible")
        assert page.locator(".task-item").count() == 0
        other.reload()
        other.locator("#empty").wait_for(state="visible")
        assert other.locator(".task-item").count() == 0
        assert page.errors == [] and other.errors == []
    finally:
        laptop.close()
        phone.close()


def test_an_upload_cut_at_80_percent_continues_from_there(browser, server, tmp_path) -> None:
    video = make_video(tmp_path / "big.mp4", seconds=4.0, size="1280x720", extra=["-qp", "12"])
    size = video.stat().st_size
    context = new_context(browser)
    offsets: list[int] = []
    cut: list[int] = []

    def chunks(route, request) -> None:
        if request.method != "PATCH":
            route.continue_()
            return
        offset = int(request.headers["upload-offset"])
        offsets.append(offset)
        if not cut and offset >= 0.8 * size:
            cut.append(offset)
            route.abort("connectionreset")  # the hotel Wi-Fi drops here
            return
        route.continue_()

    try:
        page = open_page(context)
        page.route("**/api/tasks/*/uploads/*", chunks)
        page.goto(server.url + "/")
        page.get_by_role("tab", name="Remove a watermark").click()
        page.get_by_label("Video file").set_input_files(str(video))
        page.get_by_role("button", name="Upload", exact=True).click()
        page.locator("#wm-config-form").wait_for(state="visible")
        assert cut, f"no chunk reached 80 % ({offsets})"
        after = offsets[offsets.index(cut[0]) + 1 :]
        assert after[0] == cut[0]  # sent again from where it stopped, not from zero
        assert offsets == sorted(offsets) and offsets.count(0) == 1
        assert "of" in page.locator(".upload-speed").inner_text()
        assert page.errors == []
    finally:
        context.close()


def test_notifications_after_the_visitor_asks(browser, server, origin) -> None:
    context = new_context(browser)
    context.grant_permissions(["notifications"], origin=server.url)
    context.add_init_script(
        "window.__notes = []; const Real = window.Notification;"
        "window.Notification = function (title, options) { window.__notes.push(title);"
        " return new Real(title, options); };"
        "window.Notification.permission = Real.permission;"
        "window.Notification.requestPermission = () => Real.requestPermission();"
    )
    origin.bandwidth = 400_000  # slow enough to see the task run
    try:
        page = open_page(context)
        page.goto(server.url + "/tasks")
        page.get_by_role("button", name="Notify me when tasks finish").click()
        page.get_by_text("You will be notified when a task finishes.").wait_for()
        toggle = page.locator("#notify-toggle")
        assert toggle.get_attribute("aria-pressed") == "true"
        assert toggle.inner_text() == "Stop notifications"
        body = {"task_type": "download", "url": origin.url("wide.mp4"), "name": "Ping"}
        created = api(page, "POST", server.url + "/api/tasks/create", body)
        task_id = created["data"]["task_id"]
        page.reload()
        page.wait_for_function("() => /^\\d+% · /.test(document.title)")
        page.wait_for_function("() => window.__notes.length > 0", timeout=TIMEOUT_MS)
        assert page.evaluate("window.__notes") == ["Task completed: Ping"]
        page.wait_for_function("() => !/^\\d+% · /.test(document.title)")
        assert page.locator(f'.task-item[data-task-id="{task_id}"]').get_attribute(
            "data-status"
        ) == "completed"
        assert page.errors == []
    finally:
        origin.bandwidth = None
        context.close()


def test_dark_theme_follows_the_system(browser, server) -> None:
    colors = {}
    for scheme in ("light", "dark"):
        context = new_context(browser, color_scheme=scheme)
        try:
            page = open_page(context)
            page.goto(server.url + "/tasks")
            page.locator("#empty").wait_for(state="visible")
            shot(page, f"tasks-{scheme}-theme")
            colors[scheme] = page.evaluate(
                "getComputedStyle(document.documentElement).backgroundColor"
            )
        finally:
            context.close()
    assert colors["light"] == "rgb(245, 246, 248)"
    assert colors["dark"] == "rgb(17, 20, 24)"


def test_a_video_dropped_on_the_form_is_uploaded(browser, server, tmp_path) -> None:
    import base64

    video = make_video(tmp_path / "dropped.mp4", seconds=1.0, size="320x240")
    context = new_context(browser)
    try:
        page = open_page(context)
        page.goto(server.url + "/")
        page.get_by_role("tab", name="Remove a watermark").click()
        form = page.locator("#wm-upload-form")
        assert form.get_attribute("data-drop-hint") == "Drop video files here"
        page.evaluate(
            """([data, name]) => {
              const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
              const transfer = new DataTransfer();
              transfer.items.add(new File([bytes], name, { type: "video/mp4" }));
              const form = document.getElementById("wm-upload-form");
              form.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer,
                                                            bubbles: true, cancelable: true }));
              window.__dragging = form.classList.contains("dragging");
              form.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer,
                                                        bubbles: true, cancelable: true }));
            }""",
            [base64.b64encode(video.read_bytes()).decode(), "dropped.mp4"],
        )
        assert page.evaluate("window.__dragging") is True
        assert page.eval_on_selector("#wm-file", "i => i.files[0].name") == "dropped.mp4"
        assert "dragging" not in (form.get_attribute("class") or "")
        page.get_by_role("button", name="Upload", exact=True).click()
        page.locator("#wm-config-form").wait_for(state="visible")
        assert page.errors == []
    finally:
        context.close()


def test_watermark_regions_with_the_keyboard_alone(browser, server, tmp_path) -> None:
    video = make_video(tmp_path / "keys.mp4", seconds=1.0, size="320x240")
    context = new_context(browser)
    try:
        page = open_page(context)
        page.goto(server.url + "/")
        page.get_by_role("tab", name="Remove a watermark").click()
        page.get_by_label("Video file").set_input_files(str(video))
        page.get_by_role("button", name="Upload", exact=True).click()
        page.locator("#wm-config-form").wait_for(state="visible")
        regions = page.locator("#wm-regions li")
        page.locator("#wm-canvas").focus()
        page.keyboard.press("Insert")  # a region in the middle, selected
        assert regions.nth(0).inner_text().startswith("Region 1: x 120, y 90, 80×60")
        page.keyboard.press("Shift+ArrowRight")
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Alt+ArrowDown")
        page.keyboard.press("Alt+Shift+ArrowRight")
        assert regions.nth(0).inner_text().startswith("Region 1: x 130, y 89, 90×61")
        page.keyboard.press("+")  # a second one, selected
        assert regions.count() == 2
        assert "selected" in (regions.nth(1).get_attribute("class") or "")
        page.keyboard.press("p")  # back to the first
        assert "selected" in (regions.nth(0).get_attribute("class") or "")
        page.keyboard.press("Delete")
        assert regions.count() == 1
        assert regions.nth(0).inner_text().startswith("Region 1: x 120, y 90, 80×60")
        assert page.errors == []
    finally:
        context.close()


def test_an_upload_can_be_cancelled_midway(browser, server, tmp_path) -> None:
    video = make_video(tmp_path / "slow.mp4", seconds=4.0, size="1280x720", extra=["-qp", "12"])
    context = new_context(browser)
    try:
        page = open_page(context)
        page.goto(server.url + "/")
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 20, "downloadThroughput": -1,
             "uploadThroughput": 256 * 1024},
        )  # fmt: skip
        page.get_by_role("tab", name="Remove a watermark").click()
        page.get_by_label("Video file").set_input_files(str(video))
        page.get_by_role("button", name="Upload", exact=True).click()
        page.wait_for_function("() => document.querySelector('#wm-progress').value >= 10")
        assert "/s" in page.locator(".upload-speed").inner_text()
        page.get_by_role("button", name="Cancel upload").click()
        page.get_by_text("Upload cancelled.").wait_for()
        assert page.locator("#wm-config-form").is_hidden()
        task_id = page.evaluate("() => JSON.parse(localStorage.getItem('mc-uploads') || '{}')")
        assert task_id == {}  # nothing left to resume
        cdp.send("Network.emulateNetworkConditions",
                 {"offline": False, "latency": 0, "downloadThroughput": -1,
                  "uploadThroughput": -1})  # fmt: skip
        # the open upload is given up on the server too (its bytes removed), nothing recorded
        page.wait_for_function(
            "async () => { const r = await fetch('/api/user/tasks');"
            " const tasks = (await r.json()).data.tasks;"
            " return tasks.length === 1 && !('resumable_uploads' in tasks[0].metadata); }",
            polling=200,
        )
        tasks = api(page, "GET", server.url + "/api/user/tasks")["data"]["tasks"]
        assert tasks[0]["status"] == "created" and tasks[0]["inputs"] == []
        uploads = server.data_dir / "uploads"
        wait_for(lambda: not list(uploads.rglob(".resumable-*")), timeout=10, what="bytes gone")
        assert page.errors == []
    finally:
        context.close()
