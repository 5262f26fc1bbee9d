"""What a JianYing draft task asks for, checked field by field.

Materials are ``videos``, ``audios`` (and nothing else), each an http(s) URL
or ``{"url": ...}`` or ``{"task_id": ...}`` (the result of one of the
visitor's own completed tasks). The draft configuration gives its ``name``,
canvas size, frame rate and ``drafts_root``: the folder on the *editing*
machine where JianYing keeps its drafts, which the material paths inside the
draft are written for. It is never a path on this server.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from ..download.guard import check_url, precheck_url
from ..exceptions import DownloadError, ValidationError
from ..model import is_uuid

KINDS = ("videos", "audios")
MAX_URL_LENGTH = 4096
MAX_ROOT_LENGTH = 400
CANVAS_RANGE = (16, 8192)
FPS_RANGE = (1, 120)
_WINDOWS_ROOT = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\[^\\/]+[\\/][^\\/]+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class MaterialRef:
    kind: str  # "video" or "audio"
    index: int  # 1-based within its kind
    url: str | None = None
    task_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.index}"

    @property
    def source(self) -> str:
        return self.url or f"task {self.task_id}"


@dataclass(frozen=True)
class DraftConfig:
    name: str
    canvas_width: int
    canvas_height: int
    fps: int
    drafts_root: str

    @property
    def windows(self) -> bool:
        return bool(_WINDOWS_ROOT.match(self.drafts_root))

    def material_path(self, folder: str, file_name: str) -> str:
        """Where a material will be once the zip is unpacked into ``drafts_root``."""
        root = PureWindowsPath(self.drafts_root) if self.windows else PurePosixPath(
            self.drafts_root
        )
        return str(root / folder / "materials" / file_name)

    def draft_path(self, folder: str) -> str:
        root = PureWindowsPath(self.drafts_root) if self.windows else PurePosixPath(
            self.drafts_root
        )
        return str(root / folder)


@dataclass(frozen=True)
class DraftSpec:
    materials: tuple[MaterialRef, ...]
    config: DraftConfig
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the seed's ruleGroup, kept as is

    def to_options(self) -> dict[str, Any]:
        return {
            "materials": [asdict(m) for m in self.materials],
            "draft": asdict(self.config),
            **({"rule_group": self.extra["rule_group"]} if "rule_group" in self.extra else {}),
        }

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> DraftSpec:
        materials = tuple(MaterialRef(**m) for m in options.get("materials") or [])
        return cls(materials, DraftConfig(**options["draft"]))


def parse_spec(
    materials: Any, draft: Any, allowed_networks: tuple[str, ...] = (), default_name: str = ""
) -> DraftSpec:
    """Check a request's materials and draft configuration; ValidationError names the field."""
    refs = _materials(materials, allowed_networks)
    return DraftSpec(refs, _draft(draft, default_name))


def _materials(raw: Any, allowed_networks: tuple[str, ...]) -> tuple[MaterialRef, ...]:
    if not isinstance(raw, dict):
        raise ValidationError("materials must be an object with videos and audios lists")
    unknown = sorted(set(raw) - set(KINDS) - {"images"})
    if unknown:
        raise ValidationError(f"materials.{unknown[0]} is not a kind of material (videos, audios)")
    if raw.get("images"):
        raise ValidationError("materials.images are not supported yet; give videos and audios")
    refs: list[MaterialRef] = []
    for kind in KINDS:
        items = raw.get(kind) or []
        if not isinstance(items, list):
            raise ValidationError(f"materials.{kind} must be a list")
        for number, item in enumerate(items, start=1):
            refs.append(_material(kind, number, item, allowed_networks))
    if not any(ref.kind == "video" for ref in refs):
        raise ValidationError("materials.videos must hold at least one video")
    return tuple(refs)


def _material(kind: str, number: int, item: Any, allowed_networks: tuple[str, ...]) -> MaterialRef:
    where = f"materials.{kind}[{number - 1}]"
    single = kind[:-1]
    if isinstance(item, str):
        item = {"url": item}
    if not isinstance(item, dict):
        raise ValidationError(f"{where} must be a URL or an object with url or task_id")
    if item.get("task_id") is not None:
        task_id = item["task_id"]
        if not isinstance(task_id, str) or not is_uuid(task_id):
            raise ValidationError(f"{where}.task_id must be the id of one of your tasks")
        return MaterialRef(single, number, task_id=task_id)
    url = item.get("url") if "url" in item else item.get("path")
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(f"{where}.url is required (an http or https link)")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"{where}.url is longer than {MAX_URL_LENGTH} characters")
    try:
        check_url(url)
        precheck_url(url, allowed_networks)
    except DownloadError as exc:
        raise ValidationError(f"{where}.url: {exc.message}") from None
    return MaterialRef(single, number, url=url)


def _draft(raw: Any, default_name: str) -> DraftConfig:
    if not isinstance(raw, dict):
        raise ValidationError("draft_config must be an object")
    canvas = raw.get("canvas_config") if isinstance(raw.get("canvas_config"), dict) else {}
    width = _integer(raw, canvas, "canvas_width", CANVAS_RANGE, 1920)
    height = _integer(raw, canvas, "canvas_height", CANVAS_RANGE, 1080)
    fps = _integer(raw, canvas, "fps", FPS_RANGE, 30)
    name = raw.get("name", default_name) or default_name or "MediaCraft draft"
    if not isinstance(name, str) or len(name.strip()) > 100 or _CONTROL.search(name):
        raise ValidationError("draft_config.name must be text of at most 100 characters")
    root = raw.get("drafts_root")
    if not isinstance(root, str) or not root.strip():
        raise ValidationError(
            "draft_config.drafts_root is required: the absolute path of JianYing's drafts "
            "folder on the editing machine"
        )
    root = root.strip()
    absolute = root.startswith("/") or bool(_WINDOWS_ROOT.match(root))
    if not absolute or len(root) > MAX_ROOT_LENGTH or _CONTROL.search(root) or ".." in re.split(
        r"[\\/]", root
    ):
        raise ValidationError(
            "draft_config.drafts_root must be an absolute Windows (C:\\...) or POSIX (/...) path"
        )
    return DraftConfig(name.strip(), width, height, fps, root)


def _integer(
    raw: dict, canvas: dict, key: str, bounds: tuple[int, int], default: int
) -> int:
    value = raw.get(key, canvas.get(key, default))
    low, high = bounds
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise ValidationError(f"draft_config.{key} must be a whole number")
    if not low <= int(value) <= high:
        raise ValidationError(f"draft_config.{key} must be between {low} and {high}")
    return int(value)


def folder_name(name: str) -> str:
    """The draft's folder name: the draft name without path or reserved characters."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f\x7f]+', "_", name).strip(" ._")[:80]
    return cleaned or "MediaCraft draft"


__all__ = ["DraftConfig", "DraftSpec", "MaterialRef", "folder_name", "parse_spec"]
