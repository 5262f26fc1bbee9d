"""Build a JianYing draft with pyJianYingDraft and pack it as a zip to unpack into drafts_root.

pyJianYingDraft writes ``draft_content.json`` and ``draft_meta_info.json``
into a folder and reads each material with MediaInfo when it is added. The
material paths it records are the files on this server; they are rewritten to
where the files will be on the editing machine (``drafts_root/<folder>/
materials/<file>``), and segment durations come from MediaCraft's own probe,
so the draft matches what was downloaded exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import MediaError
from .spec import DraftConfig

MICROSECONDS = 1_000_000


@dataclass(frozen=True)
class Material:
    kind: str  # "video" or "audio"
    label: str  # "video 2": how messages name it
    path: Path  # the file on this server
    duration: float  # seconds, from the probe
    width: int | None = None
    height: int | None = None


def build_draft(config: DraftConfig, folder: str, materials: list[Material], work: Path) -> Path:
    """Write the draft folder ``work/folder`` with its materials; returns its path."""
    import pyJianYingDraft as jy

    work.mkdir(parents=True, exist_ok=True)
    draft_dir = work / folder
    shutil.rmtree(draft_dir, ignore_errors=True)
    script = jy.DraftFolder(str(work)).create_draft(
        folder, config.canvas_width, config.canvas_height, config.fps, allow_replace=True
    )
    media_dir = draft_dir / "materials"
    media_dir.mkdir()
    video_track = script.append_track(jy.TrackSpec(jy.TrackType.video, "video"))
    audio_track = None
    offsets = {"video": 0, "audio": 0}
    for item in materials:
        placed = media_dir / item.path.name
        _place(item.path, placed)
        duration = max(1, round(item.duration * MICROSECONDS))
        try:
            if item.kind == "video":
                material = jy.VideoMaterial(str(placed))
            else:
                material = jy.AudioMaterial(str(placed))
        except ValueError as exc:
            raise MediaError(f"The {item.label} cannot go into a draft: {exc}") from exc
        material.duration = duration
        material.path = config.material_path(folder, placed.name)
        target = jy.Timerange(offsets[item.kind], duration)
        if item.kind == "video":
            script.add_segment(jy.VideoSegment(material, target), video_track)
        else:
            if audio_track is None:
                audio_track = script.append_track(jy.TrackSpec(jy.TrackType.audio, "audio"))
            script.add_segment(jy.AudioSegment(material, target), audio_track)
        offsets[item.kind] += duration
    script.save()
    _write_meta(draft_dir, config, folder, script.duration)
    return draft_dir


def _place(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # same file system: no copy
    except OSError:
        shutil.copyfile(source, target)


def _write_meta(draft_dir: Path, config: DraftConfig, folder: str, duration: int) -> None:
    """Fill the meta file JianYing lists drafts by: id, name, where it lives, length."""
    path = draft_dir / "draft_meta_info.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(
        {
            "draft_id": str(uuid.uuid4()).upper(),
            "draft_name": folder,
            "draft_fold_path": config.draft_path(folder),
            "draft_root_path": config.drafts_root,
            "tm_duration": duration,
        }
    )
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def zip_draft(draft_dir: Path, target: Path) -> None:
    """Pack ``draft_dir`` (its folder at the zip's top) into ``target``, atomically.

    Media is stored as is (it is compressed already); the JSON is deflated.
    """
    temp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with zipfile.ZipFile(temp, "w", allowZip64=True) as archive:
            for path in sorted(draft_dir.rglob("*")):
                if not path.is_file():
                    continue
                name = f"{draft_dir.name}/{path.relative_to(draft_dir).as_posix()}"
                method = zipfile.ZIP_DEFLATED if path.suffix == ".json" else zipfile.ZIP_STORED
                archive.write(path, name, compress_type=method)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


__all__ = ["Material", "build_draft", "zip_draft"]
