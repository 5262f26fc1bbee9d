"""HLS master playlists: the variant ``quality`` asks for and the renditions it needs.

A variant (``EXT-X-STREAM-INF``) may carry its audio in its own segments, or
name an audio group (``AUDIO="aud"``) whose ``EXT-X-MEDIA`` renditions have
media playlists of their own: the shape Apple's authoring rules and CMAF
packagers produce. Then the video alone is in the variant, and the audio
must be fetched from the rendition chosen by ``audio_lang`` (the
``DEFAULT``/``AUTOSELECT`` one when unset, every one for ``all``). Subtitles
(WebVTT renditions of the variant's ``SUBTITLES`` group) are fetched when
``subtitles`` asks for them. As in yt-dlp's ``_parse_m3u8_formats``, a
rendition without ``URI`` is carried in the variant itself.

A video request never picks an audio-only variant; a master with nothing but
audio variants gives an audio-only download.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from ..exceptions import PlaylistError

if TYPE_CHECKING:
    import m3u8

AUDIO_CODECS = ("mp4a", "ac-3", "ec-3", "opus", "mp3", "flac", "alac", "fla", "dts", "ac-4")


@dataclass(frozen=True)
class Rendition:
    kind: str  # "audio" or "subtitles"
    url: str | None  # None: carried in the variant's own segments
    group: str
    name: str
    language: str | None
    default: bool
    autoselect: bool

    def describe(self) -> str:
        label = self.language or "und"
        return f"{label} ({self.name})" if self.name and self.name != label else label


@dataclass(frozen=True)
class Variant:
    url: str
    bandwidth: int
    width: int | None
    height: int | None
    codecs: str | None
    audio_group: str | None
    subtitles_group: str | None

    @property
    def audio_only(self) -> bool:
        """Codecs that are all audio and no resolution: no picture in it."""
        if self.height or not self.codecs:
            return False
        names = [c.strip().lower() for c in self.codecs.split(",") if c.strip()]
        return bool(names) and all(n.startswith(AUDIO_CODECS) for n in names)

    def describe(self) -> str:
        size = f"{self.width}x{self.height}" if self.height else "no resolution given"
        return f"{size}, {self.bandwidth // 1000} kbit/s"


@dataclass
class Selection:
    """What to fetch for one master playlist."""

    variant: Variant
    audio: list[Rendition] = field(default_factory=list)  # fetched separately, in order
    subtitles: list[Rendition] = field(default_factory=list)
    variant_audio: bool = True  # keep the audio carried in the variant's segments
    notes: list[str] = field(default_factory=list)  # for the task's log


def variants_of(master: m3u8.M3U8, url: str) -> list[Variant]:
    out = []
    for playlist in master.playlists:
        if not playlist.uri:
            continue
        info = playlist.stream_info
        resolution = info.resolution
        out.append(
            Variant(
                url=urljoin(url, playlist.uri),
                bandwidth=int(info.bandwidth or info.average_bandwidth or 0),
                width=int(resolution[0]) if resolution else None,
                height=int(resolution[1]) if resolution else None,
                codecs=info.codecs,
                audio_group=info.audio,
                subtitles_group=info.subtitles,
            )
        )
    if not out:
        raise PlaylistError("The master playlist lists no variants")
    return out


def renditions_of(master: m3u8.M3U8, url: str) -> list[Rendition]:
    out = []
    for media in master.media:
        kind = (media.type or "").upper()
        if kind not in ("AUDIO", "SUBTITLES") or not media.group_id:
            continue
        out.append(
            Rendition(
                kind=kind.lower(),
                url=urljoin(url, media.uri) if media.uri else None,
                group=media.group_id,
                name=media.name or "",
                language=(media.language or "").strip() or None,
                default=(media.default or "").upper() == "YES",
                autoselect=(media.autoselect or "").upper() == "YES",
            )
        )
    return out


def choose_variant(variants: list[Variant], quality: str) -> Variant:
    """The variant ``quality`` asks for (best, worst, 720p, a bandwidth), video first."""
    video = [v for v in variants if not v.audio_only]
    candidates = video or variants
    quality = (quality or "best").strip().lower()
    ranked = sorted(candidates, key=lambda v: (v.height or 0, v.bandwidth))
    if quality == "best":
        return ranked[-1]
    if quality == "worst":
        return ranked[0]
    if quality.endswith("p"):
        target = int(quality[:-1])
        at_most = [v for v in ranked if 0 < (v.height or 0) <= target]
        return at_most[-1] if at_most else ranked[0]
    target = int(quality)
    by_bandwidth = sorted(candidates, key=lambda v: v.bandwidth)
    below = [v for v in by_bandwidth if v.bandwidth <= target]
    return below[-1] if below else by_bandwidth[0]


def language_matches(language: str | None, wanted: str) -> bool:
    """``en`` matches ``en``, ``en-US`` and ``eng``; comparisons ignore case."""
    if not language:
        return False
    have = language.lower()
    want = wanted.lower()
    if have == want or have.startswith(want + "-") or want.startswith(have + "-"):
        return True
    return iso639_2(have.split("-")[0]) == iso639_2(want.split("-")[0])


def select(master: m3u8.M3U8, url: str, quality: str, audio_lang: str | None,
           subtitles: str) -> Selection:  # fmt: skip
    """The variant and renditions to fetch; PlaylistError for a group or language not there."""
    variants = variants_of(master, url)
    variant = choose_variant(variants, quality)
    renditions = renditions_of(master, url)
    selection = Selection(variant=variant)
    kind = "audio-only variant" if variant.audio_only else "variant"
    selection.notes.append(f"Chose the {kind} {variant.describe()} (quality {quality})")
    if variant.audio_group:
        _choose_audio(selection, renditions, variant.audio_group, audio_lang)
    elif audio_lang not in (None, "all"):
        raise PlaylistError(
            f"The stream has no separate audio renditions, so audio_lang {audio_lang!r} "
            "cannot be chosen; leave audio_lang out"
        )
    wanted_subtitles = (subtitles or "none").strip()
    if wanted_subtitles.lower() != "none":
        _choose_subtitles(selection, renditions, variant.subtitles_group, wanted_subtitles)
    return selection


def _group(renditions: list[Rendition], kind: str, group: str) -> list[Rendition]:
    members = [r for r in renditions if r.kind == kind and r.group == group]
    if not members:
        raise PlaylistError(
            f"The variant refers to the {kind} group {group!r}, which the master playlist "
            "does not define"
        )
    return members


def _choose_audio(
    selection: Selection, renditions: list[Rendition], group: str, wanted: str | None
) -> None:
    members = _group(renditions, "audio", group)
    if wanted is None:
        chosen = [
            next((r for r in members if r.default), None)
            or next((r for r in members if r.autoselect), None)
            or members[0]
        ]
    elif wanted.lower() == "all":
        chosen = members
    else:
        chosen = [r for r in members if language_matches(r.language, wanted)][:1]
        if not chosen:
            have = ", ".join(r.describe() for r in members)
            raise PlaylistError(
                f"No audio rendition in language {wanted!r}; the stream has: {have}"
            )
    fetched: list[Rendition] = []
    for rendition in chosen:
        if rendition.url and all(rendition.url != other.url for other in fetched):
            fetched.append(rendition)
    selection.audio = fetched
    # The variant's own audio counts only where a chosen rendition has no URI of its own.
    selection.variant_audio = any(r.url is None for r in chosen)
    for rendition in selection.audio:
        selection.notes.append(f"Audio rendition {rendition.describe()} (group {group})")
    if selection.variant_audio:
        selection.notes.append("Audio carried in the variant's own segments")


def _choose_subtitles(
    selection: Selection, renditions: list[Rendition], group: str | None, wanted: str
) -> None:
    members = [r for r in renditions if r.kind == "subtitles" and r.url]
    if group:
        members = [r for r in _group(renditions, "subtitles", group) if r.url]
    if wanted.lower() == "all":
        chosen = members
        if not chosen:
            selection.notes.append("The stream has no subtitles")
    else:
        chosen = [r for r in members if language_matches(r.language, wanted)][:1]
        if not chosen:
            have = ", ".join(r.describe() for r in members) or "none"
            raise PlaylistError(f"No subtitles in language {wanted!r}; the stream has: {have}")
    selection.subtitles = chosen
    for rendition in chosen:
        selection.notes.append(f"Subtitles {rendition.describe()}")


# ISO 639-2/B codes that differ from the /T codes MP4 uses (CLDR lists both as aliases).
_BIBLIOGRAPHIC = frozenset({
    "alb", "arm", "baq", "bur", "chi", "cze", "dut", "fre", "geo", "ger", "gre", "ice", "mac",
    "mao", "may", "per", "rum", "slo", "tib", "wel",
})  # fmt: skip


def iso639_2(language: str | None) -> str:
    """The three-letter (ISO 639-2/T) code MP4 stores for ``language``; ``und`` if unknown.

    Two-letter codes are looked up in CLDR's language aliases (shipped with
    Babel, which flask-babel already needs).
    """
    if not language:
        return "und"
    primary = language.strip().lower().split("-")[0].split("_")[0]
    if len(primary) == 3 and primary.isalpha():
        return primary
    if len(primary) != 2 or not primary.isalpha():
        return "und"
    candidates = sorted(
        code
        for code, target in _language_aliases().items()
        if target == primary and len(code) == 3 and code not in _BIBLIOGRAPHIC
    )
    if not candidates:
        return "und"
    return next((code for code in candidates if code.startswith(primary)), candidates[0])


_ALIASES: dict[str, str] | None = None


def _language_aliases() -> dict[str, str]:
    global _ALIASES
    if _ALIASES is None:
        from babel.core import get_global

        _ALIASES = {
            str(k): str(v) for k, v in get_global("language_aliases").items() if v and k
        }
    return _ALIASES


__all__ = ["Rendition", "Selection", "Variant", "choose_variant", "iso639_2",
           "language_matches", "renditions_of", "select", "variants_of"]  # fmt: skip
