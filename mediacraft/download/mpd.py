"""DASH manifests (static MPD): parsed and flattened into the segments the HLS engine fetches.

An MPD describes each representation's media with one of three schemes,
which may sit on the Period, the AdaptationSet or the Representation and
inherit downwards (ISO/IEC 23009-1 §5.3.9):

* ``SegmentTemplate``: URLs built from ``$RepresentationID$``, ``$Number$``,
  ``$Bandwidth$`` and ``$Time$`` (with ``%0Nd`` widths), counted either by a
  ``SegmentTimeline`` (``S@t/@d/@r``, ``r="-1"`` repeating to the period's
  end) or by ``@duration`` over the period's length;
* ``SegmentList``: explicit ``SegmentURL`` elements, with optional
  ``mediaRange`` byte ranges;
* ``SegmentBase``: one file whose segment index (``sidx``) lies at
  ``indexRange``; it is read later (``sidx.py``), so such a representation
  carries only where its index is.

``BaseURL`` may appear on every level and each one is resolved against the
one above it (the MPD's own URL first). A representation with none of the
three schemes is one whole file at its ``BaseURL``.

The parser is the standard library's ElementTree (its expat refuses
entity-expansion bombs and never fetches external entities); a document
type declaration is refused outright, since no MPD needs one. XML errors
name the line and column, and a missing or malformed value names the
element it belongs to.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urljoin

from ..exceptions import PlaylistError
from .fetch import ByteRange
from .playlist import Init, Segment, short_name

SCHEMES = ("SegmentTemplate", "SegmentList", "SegmentBase")
_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_IDENTIFIER = re.compile(r"\$(RepresentationID|Number|Bandwidth|Time)?(?:%0(\d+)([dxXo]))?\$")
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


@dataclass
class Representation:
    """One representation of one period, ready to be chosen and fetched."""

    period: int  # position of its Period in the MPD
    set_index: int  # position of its AdaptationSet in the period
    id: str
    kind: str  # video, audio or text
    mime: str
    codecs: str
    bandwidth: int
    width: int | None
    height: int | None
    language: str | None
    label: str
    roles: tuple[str, ...]
    protected: bool  # carries ContentProtection (DRM)
    base_url: str
    duration: float  # of its period, seconds (0 when unknown)
    segments: list[Segment] = field(default_factory=list)
    init: Init | None = None
    index: ByteRange | None = None  # SegmentBase: where the sidx is (in ``base_url``)
    index_start: float = 0.0  # SegmentBase: presentation time offset, seconds

    @property
    def key(self) -> tuple[int, int, str]:
        """What identifies the representation in a fresh copy of the same MPD."""
        return (self.period, self.set_index, self.id)


@dataclass
class Manifest:
    url: str
    dynamic: bool
    duration: float  # mediaPresentationDuration, seconds (0 when absent)
    representations: list[Representation]


def looks_like_mpd(head: bytes, content_type: str = "") -> bool:
    """Whether a response may be an MPD: its type, or XML where one would start."""
    if "dash+xml" in content_type.lower():
        return True
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith((b"<?xml", b"<MPD", b"<mpd", b"<!--"))


def is_mpd_document(body: bytes) -> bool:
    """An XML document whose root element is ``MPD`` (any namespace prefix)."""
    text = body[:4096].decode("utf-8", "replace")
    text = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>", "", text,
                  flags=re.S | re.I).lstrip("\ufeff \t\r\n")
    return bool(re.match(r"<(?:[A-Za-z_][\w.-]*:)?MPD[\s>/]", text))


def parse_duration(value: str | None, where: str = "") -> float:
    """An ISO 8601 duration (``PT1H2M3.5S``) in seconds; 0 for none."""
    if value is None or not value.strip():
        return 0.0
    match = _DURATION.match(value.strip())
    if not match or value.strip() in ("P", "PT"):
        raise PlaylistError(f"{where} has a malformed duration {value!r} (expected PT…S)")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("days", 0) * 86400
        + parts.get("hours", 0) * 3600
        + parts.get("minutes", 0) * 60
        + parts.get("seconds", 0)
    )


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    if element is None:
        return []
    return [child for child in element if _local(child.tag) == name]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _first(*elements: ET.Element | None) -> ET.Element | None:
    """The first element that is there (an Element without children is false, not None)."""
    return next((e for e in elements if e is not None), None)


def _int(element: ET.Element, name: str, default: int | None = None) -> int | None:
    value = element.get(name)
    if value is None:
        return default
    try:
        return int(value.strip())
    except ValueError:
        raise PlaylistError(
            f"The {_local(element.tag)} element has a malformed {name} {value!r} "
            "(expected a whole number)"
        ) from None


def _range(element: ET.Element, name: str) -> ByteRange | None:
    value = element.get(name)
    if value is None:
        return None
    match = _RANGE.match(value)
    if not match or int(match.group(2)) < int(match.group(1)):
        raise PlaylistError(
            f"The {_local(element.tag)} element has a malformed {name} {value!r} "
            "(expected first-last)"
        )
    first, last = int(match.group(1)), int(match.group(2))
    return ByteRange(first, last - first + 1)


def _base(url: str, element: ET.Element) -> str:
    """``url`` with the first ``BaseURL`` of ``element`` applied (others are alternatives)."""
    found = _child(element, "BaseURL")
    if found is None or not (found.text or "").strip():
        return url
    return urljoin(url, (found.text or "").strip())


def parse_mpd(body: bytes, url: str) -> Manifest:
    """Parse an MPD; PlaylistError names the line or the element that is wrong."""
    name = short_name(url)
    if re.search(rb"<!DOCTYPE|<!ENTITY", body[:65536], flags=re.I):
        raise PlaylistError(f"The manifest {name} declares a document type, which no MPD needs")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":", 1)[0]
        raise PlaylistError(
            f"The manifest {name} is not valid XML (line {line}, column {column + 1}: {reason})"
        ) from None
    if _local(root.tag) != "MPD":
        raise PlaylistError(f"The document {name} is XML but not a DASH manifest (no MPD root)")
    dynamic = (root.get("type") or "static").strip() == "dynamic"
    total = parse_duration(root.get("mediaPresentationDuration"), "The MPD element")
    base = _base(url, root)
    periods = _children(root, "Period")
    if not periods:
        raise PlaylistError(f"The manifest {name} has no Period element")
    starts = [parse_duration(p.get("start"), f"Period {n + 1}") for n, p in enumerate(periods)]
    representations: list[Representation] = []
    for number, period in enumerate(periods):
        length = parse_duration(period.get("duration"), f"Period {number + 1}")
        if not length:
            following = starts[number + 1] if number + 1 < len(periods) else None
            end = following if following is not None else total
            length = max(0.0, end - starts[number]) if end else 0.0
        period_base = _base(base, period)
        for set_index, aset in enumerate(_children(period, "AdaptationSet")):
            set_base = _base(period_base, aset)
            for element in _children(aset, "Representation"):
                rep = _representation(number, set_index, period, aset, element, set_base, length)
                if rep is not None:
                    representations.append(rep)
    return Manifest(url=url, dynamic=dynamic, duration=total, representations=representations)


def _kind(mime: str, content_type: str, codecs: str) -> str | None:
    for candidate in (content_type, mime.split("/", 1)[0]):
        if candidate in ("video", "audio", "text"):
            return candidate
    if mime in ("application/ttml+xml", "application/x-subrip"):
        return "text"
    lowered = codecs.lower()
    if lowered.startswith(("avc", "hev", "hvc", "vp0", "vp9", "av01")):
        return "video"
    if lowered.startswith(("mp4a", "ac-3", "ec-3", "opus", "flac")):
        return "audio"
    if lowered.startswith(("wvtt", "stpp")):
        return "text"
    return None


def _representation(
    period_number: int,
    set_index: int,
    period: ET.Element,
    aset: ET.Element,
    element: ET.Element,
    set_base: str,
    length: float,
) -> Representation | None:
    attributes = {**aset.attrib, **element.attrib}
    mime = (attributes.get("mimeType") or "").strip().lower()
    codecs = (attributes.get("codecs") or "").strip()
    kind = _kind(mime, (attributes.get("contentType") or "").strip().lower(), codecs)
    if kind is None:  # thumbnails (image/jpeg) and other things that are not media
        return None
    rep_id = (element.get("id") or "").strip()
    label = _first(_child(element, "Label"), _child(aset, "Label"))
    roles = tuple(
        (role.get("value") or "").strip().lower()
        for role in _children(aset, "Role") + _children(element, "Role")
    )
    rep = Representation(
        period=period_number,
        set_index=set_index,
        id=rep_id or f"{set_index}.{len(_children(aset, 'Representation'))}",
        kind=kind,
        mime=mime,
        codecs=codecs,
        bandwidth=_int(element, "bandwidth", 0) or 0,
        width=_int(element, "width") or _int(aset, "width"),
        height=_int(element, "height") or _int(aset, "height"),
        language=(attributes.get("lang") or "").strip() or None,
        label=((label.text or "") if label is not None else attributes.get("label", "")).strip(),
        roles=roles,
        protected=bool(_children(aset, "ContentProtection") or
                       _children(element, "ContentProtection")),  # fmt: skip
        base_url=_base(set_base, element),
        duration=length,
    )
    levels = (period, aset, element)
    if _scheme(levels, "SegmentTemplate"):
        _from_template(rep, levels)
    elif _scheme(levels, "SegmentList"):
        _from_list(rep, levels)
    elif _scheme(levels, "SegmentBase"):
        _from_base(rep, levels)
    else:  # one whole file
        rep.segments = [_segment(0, 0, rep.base_url, length, None, None)]
    return rep


def _scheme(levels: tuple[ET.Element, ...], name: str) -> list[ET.Element]:
    return [found for level in levels if (found := _child(level, name)) is not None]


@dataclass
class _Info:
    """A segment scheme's attributes and children, merged from the outer levels inwards."""

    attributes: dict[str, str]
    timeline: ET.Element | None
    initialization: ET.Element | None
    urls: list[ET.Element]
    element: ET.Element  # the innermost one, for messages

    def number(self, name: str, default: int) -> int:
        value = self.attributes.get(name)
        if value is None:
            return default
        try:
            return int(value.strip())
        except ValueError:
            raise PlaylistError(
                f"The {_local(self.element.tag)} element has a malformed {name} {value!r} "
                "(expected a whole number)"
            ) from None


def _merged(levels: tuple[ET.Element, ...], name: str) -> _Info:
    found = _scheme(levels, name)
    attributes: dict[str, str] = {}
    timeline = initialization = None
    urls: list[ET.Element] = []
    for element in found:
        attributes.update(element.attrib)
        timeline = _first(_child(element, "SegmentTimeline"), timeline)
        initialization = _first(_child(element, "Initialization"), initialization)
        urls = _children(element, "SegmentURL") or urls
    return _Info(attributes, timeline, initialization, urls, found[-1])


def _segment(index: int, number: int, uri: str, duration: float, byterange: ByteRange | None,
             init: Init | None) -> Segment:  # fmt: skip
    return Segment(index=index, sequence=number, uri=uri, duration=duration, byterange=byterange,
                   key=None, init=init, group=0)  # fmt: skip


def _fill(template: str, rep: Representation, number: int = 0, time: int = 0) -> str:
    def value(match: re.Match[str]) -> str:
        name, width, style = match.group(1), match.group(2), match.group(3) or "d"
        if name is None:
            return "$"  # "$$" is a literal dollar sign
        raw: int | str = {"RepresentationID": rep.id, "Number": number,
                          "Bandwidth": rep.bandwidth, "Time": time}[name]  # fmt: skip
        if isinstance(raw, str):
            return raw
        return format(raw, f"0{width}{style}" if width else style)

    return _IDENTIFIER.sub(value, template)


def _initialization(rep: Representation, info: _Info, template: str | None = None) -> Init | None:
    if template:
        return Init(urljoin(rep.base_url, _fill(template, rep)), None)
    element = info.initialization
    if element is None:
        return None
    source = element.get("sourceURL")
    uri = urljoin(rep.base_url, source) if source else rep.base_url
    return Init(uri, _range(element, "range"))


def _timeline(info: _Info, timescale: int, length: float) -> list[tuple[int, int]]:
    """(start time, duration) of every segment in a SegmentTimeline, in timescale units."""
    assert info.timeline is not None
    entries = _children(info.timeline, "S")
    out: list[tuple[int, int]] = []
    offset = info.number("presentationTimeOffset", 0)
    clock = offset
    end_of_period = offset + round(length * timescale) if length else None
    for position, entry in enumerate(entries):
        start = _int(entry, "t")
        duration = _int(entry, "d")
        repeat = _int(entry, "r", 0) or 0
        if duration is None or duration <= 0:
            raise PlaylistError(f"S element {position + 1} of a SegmentTimeline has no valid d")
        clock = start if start is not None else clock
        if repeat < 0:  # until the next S element's start, or the period's end
            following = _int(entries[position + 1], "t") if position + 1 < len(entries) else None
            limit = following if following is not None else end_of_period
            if limit is None:
                raise PlaylistError(
                    "A SegmentTimeline repeats to the period's end (r=-1), but the MPD "
                    "gives no duration"
                )
            repeat = max(0, math.ceil((limit - clock) / duration) - 1)
        for _ in range(repeat + 1):
            out.append((clock, duration))
            clock += duration
    return out


def _from_template(rep: Representation, levels: tuple[ET.Element, ...]) -> None:
    info = _merged(levels, "SegmentTemplate")
    media = info.attributes.get("media")
    if not media:
        raise PlaylistError(f"The SegmentTemplate of representation {rep.id!r} has no media")
    timescale = info.number("timescale", 1) or 1
    start_number = info.number("startNumber", 1)
    init = _initialization(rep, info, info.attributes.get("initialization"))
    segments: list[Segment] = []
    if info.timeline is not None:
        for position, (time, duration) in enumerate(_timeline(info, timescale, rep.duration)):
            uri = urljoin(rep.base_url, _fill(media, rep, start_number + position, time))
            segments.append(_segment(position, start_number + position, uri,
                                     duration / timescale, None, init))  # fmt: skip
    else:
        duration = info.number("duration", 0)
        if duration <= 0:
            raise PlaylistError(
                f"The SegmentTemplate of representation {rep.id!r} has neither a "
                "SegmentTimeline nor a duration"
            )
        if "$Time$" in media:
            raise PlaylistError(
                f"The SegmentTemplate of representation {rep.id!r} uses $Time$ without a "
                "SegmentTimeline"
            )
        if not rep.duration:
            raise PlaylistError("The MPD gives no duration, so its segments cannot be counted")
        seconds = duration / timescale
        count = max(1, math.ceil(rep.duration / seconds - 1e-6))
        for position in range(count):
            uri = urljoin(rep.base_url, _fill(media, rep, start_number + position))
            last = min(seconds, rep.duration - position * seconds)
            segments.append(_segment(position, start_number + position, uri, last, None, init))
    rep.segments = segments
    rep.init = init


def _from_list(rep: Representation, levels: tuple[ET.Element, ...]) -> None:
    info = _merged(levels, "SegmentList")
    if not info.urls:
        raise PlaylistError(f"The SegmentList of representation {rep.id!r} has no SegmentURL")
    timescale = info.number("timescale", 1) or 1
    start_number = info.number("startNumber", 1)
    init = _initialization(rep, info)
    if info.timeline is not None:
        durations = [d / timescale for _t, d in _timeline(info, timescale, rep.duration)]
    else:
        each = info.number("duration", 0) / timescale
        durations = [each] * len(info.urls)
        if each and rep.duration:  # the last one ends with the period
            durations[-1] = max(0.0, rep.duration - each * (len(info.urls) - 1))
    if len(durations) < len(info.urls):
        durations += [0.0] * (len(info.urls) - len(durations))
    segments = []
    for position, element in enumerate(info.urls):
        media = element.get("media")
        uri = urljoin(rep.base_url, media) if media else rep.base_url
        segments.append(_segment(position, start_number + position, uri, durations[position],
                                 _range(element, "mediaRange"), init))  # fmt: skip
    rep.segments = segments
    rep.init = init


def _from_base(rep: Representation, levels: tuple[ET.Element, ...]) -> None:
    info = _merged(levels, "SegmentBase")
    rep.init = _initialization(rep, info)
    index = info.attributes.get("indexRange")
    if index is None:  # no index: the file is one segment
        rep.segments = [_segment(0, 0, rep.base_url, rep.duration, None, None)]
        rep.init = None
        return
    rep.index = _range(info.element, "indexRange") if info.element.get("indexRange") else None
    if rep.index is None:  # inherited from an outer level
        probe = ET.Element("SegmentBase", {"indexRange": index})
        rep.index = _range(probe, "indexRange")
    timescale = info.number("timescale", 1) or 1
    rep.index_start = info.number("presentationTimeOffset", 0) / timescale


__all__ = ["Manifest", "Representation", "is_mpd_document", "looks_like_mpd", "parse_duration",
           "parse_mpd"]  # fmt: skip
