"""The region suggestions, the preview and the method choice through the API.

Clips from ``logo_clips`` at 640x360 (a pan and a still shot with a logo), the
Flask test client, the task queue running in the app.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import av
import numpy as np
import pytest

from mediacraft.restore.detect import suggest_regions
from tests.support.api import assert_error, fetch, multipart
from tests.support.logo_clips import LogoClip, region_psnr
from tests.support.waiting import wait_for


def iou(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[LogoClip, Path]]:
    root = tmp_path_factory.mktemp("restore-api")
    made = {}
    for scene in ("pan", "static"):
        for logo in ("semi", "opaque"):
            # a still shot needs a few seconds of changing light to tell the logo apart
            clip = LogoClip(scene, logo, scale=0.5, seconds=3.0 if scene == "pan" else 6.0)
            made[f"{scene}-{logo}"] = (clip, clip.write(root / f"{scene}-{logo}.mp4"))
    return made


@pytest.mark.parametrize("name", ["pan-semi", "pan-opaque", "static-semi", "static-opaque"])
def test_detected_regions_cover_the_logo(clips: dict, name: str) -> None:
    clip, src = clips[name]
    found = suggest_regions(src, time_limit=30)
    assert found, "no region suggested"
    assert max(iou(box, clip.region) for box in found) >= 0.7, (found, clip.region)
    assert iou(found[0], clip.region) >= 0.7  # the logo comes first


def test_nothing_is_suggested_for_a_clean_video(tmp_path: Path) -> None:
    clip = LogoClip("pan", "semi", scale=0.5, seconds=2.0)
    clip.input_rgb = clip.clean_rgb  # type: ignore[method-assign]
    found = suggest_regions(clip.write(tmp_path / "clean.mp4"), time_limit=30)
    assert all(iou(box, clip.region) < 0.3 for box in found), found


def _task(client, path: Path) -> str:
    response = client.post("/api/tasks/create", json={"task_type": "watermark_removal"})
    task_id = response.json["data"]["task_id"]
    uploaded = multipart(client, f"/api/tasks/{task_id}/upload", [(path, "clip.mp4")])
    assert uploaded.status_code == 200
    return task_id


def _jpeg_luma_limited(data: bytes) -> np.ndarray:
    """A JPEG's luma, mapped from full range to the video's limited range."""
    with av.open(io.BytesIO(data), format="jpeg_pipe") as container:
        frame = next(container.decode(video=0))
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width].astype(np.float32) * 219 / 255 + 16


def test_suggested_regions_endpoint(client, other_client, clips: dict) -> None:
    clip, src = clips["pan-semi"]
    task_id = _task(client, src)
    response = client.get(f"/api/tasks/{task_id}/suggested-regions")
    assert response.status_code == 200, response.json
    regions = response.json["data"]["regions"]
    assert iou(regions[0], clip.region) >= 0.7
    foreign = other_client.get(f"/api/tasks/{task_id}/suggested-regions")
    missing = other_client.get(f"/api/tasks/{uuid.uuid4()}/suggested-regions")
    assert assert_error(foreign, 404) == assert_error(missing, 404)
    empty = client.post("/api/tasks/create", json={"task_type": "watermark_removal"})
    empty_id = empty.json["data"]["task_id"]
    assert_error(client.get(f"/api/tasks/{empty_id}/suggested-regions"), 400, "no uploaded")


def test_preview_shows_the_method_on_one_frame(client, other_client, clips: dict) -> None:
    clip, src = clips["pan-opaque"]
    task_id = _task(client, src)
    x, y, w, h = clip.region
    url = f"/api/tasks/{task_id}/preview?frame=30&regions={x},{y},{w},{h}"
    scores = {}
    for method in ("auto", "delogo"):
        response = client.get(f"{url}&method={method}")
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        got = _jpeg_luma_limited(response.data)
        assert got.shape == (clip.size[1], clip.size[0])
        want = clip.clean_luma(30)
        mse = float(np.mean((got[y : y + h, x : x + w] - want[y : y + h, x : x + w]) ** 2))
        scores[method] = 10 * np.log10(255**2 / mse)
    assert scores["auto"] > scores["delogo"] + 5, scores  # the real background, not a smear
    small = client.get(f"{url}&method=inpaint&max_width=320")
    assert small.status_code == 200 and _jpeg_luma_limited(small.data).shape == (180, 320)

    assert_error(client.get(f"{url}&method=blur"), 400, "method must be one of")
    assert_error(client.get(f"/api/tasks/{task_id}/preview?frame=750&regions=1,1,8,8"),
                 400, "out of range")  # fmt: skip
    assert_error(client.get(f"/api/tasks/{task_id}/preview?frame=0&regions=630,0,20,8"),
                 400, "extends past the frame width 640")  # fmt: skip
    assert_error(client.get(f"/api/tasks/{task_id}/preview?frame=0&regions=a,b"), 400, "regions")
    assert_error(client.get(f"/api/tasks/{task_id}/preview?frame=0"), 400, "regions")
    foreign = other_client.get(f"{url}&method=auto")
    missing = other_client.get(f"/api/tasks/{uuid.uuid4()}/preview?frame=0")
    assert assert_error(foreign, 404) == assert_error(missing, 404)


def test_preview_shares_the_frame_rate_limit(app_config: dict, request, clips: dict) -> None:
    app_config["frames_per_minute"] = 2
    client = request.getfixturevalue("client")
    _, src = clips["static-semi"]
    task_id = _task(client, src)
    assert client.get(f"/api/tasks/{task_id}/frame?index=0").status_code == 200
    ok = client.get(f"/api/tasks/{task_id}/preview?frame=1&regions=550,18,70,25&method=inpaint")
    assert ok.status_code == 200
    assert_error(
        client.get(f"/api/tasks/{task_id}/preview?frame=2&regions=550,18,70,25&method=inpaint"),
        429, "Too many",
    )  # fmt: skip
    assert_error(client.get(f"/api/tasks/{task_id}/suggested-regions"), 429, "Too many")


def test_method_through_the_api_and_the_note_in_the_log(
    client, clips: dict, tmp_path: Path
) -> None:
    clip, src = clips["static-semi"]
    task_id = _task(client, src)
    config_url = f"/api/tasks/{task_id}/config"
    bad = {"selected_frame": 0, "regions": [list(clip.region)], "method": "magic"}
    assert_error(client.post(config_url, json=bad), 400, "method must be one of")
    good = {"selected_frame": 0, "regions": [list(clip.region)], "method": "auto"}
    assert client.post(config_url, json=good).status_code == 200

    def finished() -> dict | None:
        data = client.get(f"/api/tasks/{task_id}/status").json["data"]
        assert data["status"] not in {"failed", "cancelled"}, data
        return data if data["status"] == "completed" else None

    wait_for(finished, timeout=120, what="task completed")
    log = client.get(f"/api/tasks/{task_id}/log").json["data"]["lines"]
    assert any("auto chose unblend" in line["message"] for line in log), log
    response, payload = fetch(client, f"/api/tasks/{task_id}/download")
    assert response.status_code == 200
    result = tmp_path / "result.mp4"
    result.write_bytes(payload)
    assert region_psnr(clip, result)[0] >= 30.0


def test_compat_remove_watermark_takes_the_method(client, clips: dict) -> None:
    clip, src = clips["static-opaque"]
    uploaded = multipart(client, "/api/video/upload", [(src, "clip.mp4")])
    video_id = uploaded.json["data"]["video_id"]
    url = f"/api/video/{video_id}/remove-watermark"
    body = {"selected_frame": 0, "regions": [list(clip.region)]}
    assert_error(client.post(url, json={**body, "method": "magic"}), 400, "method must be one of")
    queued = client.post(url, json={**body, "method": "delogo"})
    assert queued.status_code == 200, queued.json
    status = client.get(f"/api/tasks/{video_id}/status").json["data"]
    assert status["config"]["method"] == "delogo"
