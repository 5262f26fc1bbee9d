"""The watermark page's assist in a real browser: detected logos, the method, the preview."""

from __future__ import annotations

import re

from playwright import sync_api

from tests.support.logo_clips import LogoClip
from tests.test_browser import (  # noqa: F401 (fixtures)
    created_id,
    page,
    server,
    shot,
    visitor,
    wait_for_status,
)
from tests.test_restore_api import iou


def test_detected_region_method_and_preview(page, server, tmp_path) -> None:  # noqa: F811
    clip = LogoClip("pan", "opaque", scale=0.5, seconds=3.0)
    video = clip.write(tmp_path / "pan.mp4")
    page.goto(server.url + "/")
    page.get_by_role("tab", name="Remove a watermark").click()
    page.get_by_label("Video file").set_input_files(str(video))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.locator("#wm-config-form").wait_for(state="visible")

    # The logo is offered; the visitor takes it, and it becomes an ordinary region.
    use = page.get_by_role("button", name="Use detected region 1")
    try:
        use.wait_for(timeout=45_000)
    except sync_api.TimeoutError:
        raise AssertionError(page.locator("#wm-detected").inner_text()) from None
    offered = page.locator("#wm-detected-list li").count()
    use.click()
    assert page.locator("#wm-regions li").count() == 1
    assert page.locator("#wm-detected-list li").count() == offered - 1
    numbers = [int(v) for v in re.findall(r"\d+", page.locator("#wm-regions li span").inner_text())]
    assert iou(numbers[1:], clip.region) >= 0.7, numbers

    # Each method has its line; the preview of the chosen one appears beside the original.
    assert page.get_by_text("For a moving camera").is_visible()
    page.get_by_label("From other frames").check()
    with page.expect_response(lambda r: "/preview?" in r.url) as answer:
        page.get_by_role("button", name="Preview this frame").click()
    assert answer.value.status == 200 and "method=temporal" in answer.value.url
    preview = page.locator("#wm-preview")
    preview.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('#wm-preview').naturalWidth === 640")
    assert page.get_by_text("Original", exact=True).is_visible()
    shot(page, "watermark-preview")

    with page.expect_request(lambda r: r.url.endswith("/config")) as request_info:
        page.get_by_role("button", name="Remove watermark").click()
    payload = request_info.value.post_data_json
    assert payload["method"] == "temporal" and len(payload["regions"]) == 1
    wait_for_status(page, created_id(page), "completed")


def test_the_assist_in_chinese(page, server, tmp_path) -> None:  # noqa: F811
    clip = LogoClip("static", "semi", scale=0.5, seconds=2.0)
    video = clip.write(tmp_path / "still.mp4")
    page.goto(server.url + "/?lang=zh")
    page.get_by_role("tab", name="去除水印").click()
    page.get_by_label("视频文件").set_input_files(str(video))
    page.get_by_role("button", name="上传", exact=True).click()
    page.locator("#wm-config-form").wait_for(state="visible")
    assert page.get_by_text("检测到的标志").is_visible()
    assert page.get_by_label("反混合").is_visible()
    assert page.get_by_role("button", name="预览这一帧").is_visible()
    # no region yet: the preview asks for one, in Chinese
    page.get_by_role("button", name="预览这一帧").click()
    assert "矩形" in page.locator("#wm-config-form .message").inner_text()
