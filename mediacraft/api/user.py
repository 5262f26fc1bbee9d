"""``/api/user``: who am I, and my tasks."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, g, request

from ..exceptions import ValidationError
from ..model import TaskStatus
from ..storage import TaskQuery
from ..storage.base import SORT_FIELDS
from ..tags import RESOLUTIONS, clean_tag
from .envelope import envelope

bp = Blueprint("user_api", __name__, url_prefix="/api/user")

MAX_PER_PAGE = 100


@bp.get("/info")
def info():
    """Who the visitor is and how many tasks they have (from the per-user index, no task reads)."""
    ext = current_app.extensions["mediacraft"]
    user = ext.storage.get_user(g.user_id)
    states = ext.storage.user_task_states(g.user_id) if user else {}
    counts = {status.value: 0 for status in TaskStatus}
    for status in states.values():
        if status in counts:
            counts[status] += 1
    config = ext.config
    return envelope(
        {
            "user_id": g.user_id,
            "created_at": user.created_at if user else None,
            "last_accessed": user.last_accessed if user else None,
            "task_stats": {"total": len(states), **counts},
            "limits": {
                "max_tasks_per_user": config.max_tasks_per_user,
                "max_queued_per_user": config.max_queued_per_user,
                "max_unfinished_per_user": config.max_unfinished_per_user,
                "max_upload_mb": config.max_upload_mb,
                "quota_mb": config.user_quota_mb,
            },
        }
    )


def parse_task_query() -> TaskQuery:
    """Read filter, search, sort and paging parameters of a task listing."""
    args = request.args
    statuses = tuple(s for s in args.get("status", "").split(",") if s)
    valid = {s.value for s in TaskStatus}
    for status in statuses:
        if status not in valid:
            raise ValidationError(f"Unknown status {status!r}")
    sort = args.get("sort", "-created_at")
    if sort.lstrip("-+") not in SORT_FIELDS:
        raise ValidationError(f"sort must be one of {', '.join(SORT_FIELDS)} (prefix - to reverse)")
    try:
        page = int(args.get("page", 1))
        per_page = int(args.get("per_page", 20))
    except ValueError:
        raise ValidationError("page and per_page must be integers") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationError(f"page must be ≥ 1 and per_page between 1 and {MAX_PER_PAGE}")
    search = args.get("search") or args.get("q") or None
    resolution = args.get("resolution") or None
    if resolution is not None and resolution not in RESOLUTIONS:
        raise ValidationError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
    tag = clean_tag(args["tag"]) if args.get("tag") else None
    min_duration, max_duration = parse_duration_range(args.get("duration") or "")
    return TaskQuery(
        status=statuses,
        task_type=args.get("type") or args.get("task_type") or None,
        batch_id=args.get("batch_id") or None,
        search=search[:200] if search else None,
        tag=tag,
        resolution=resolution,
        min_duration=min_duration,
        max_duration=max_duration,
        sort=sort,
        offset=(page - 1) * per_page,
        limit=per_page,
    )


_RANGE = re.compile(r"^(\d{1,7})?-(\d{1,7})?$")


def parse_duration_range(raw: str) -> tuple[float | None, float | None]:
    """``"60-600"`` (seconds, from inclusive, to exclusive), ``"3600-"``, ``"-60"``; ``""``: any."""
    if not raw:
        return None, None
    match = _RANGE.match(raw)
    if not match or raw == "-":
        raise ValidationError("duration must be a range of seconds such as 60-600, 3600- or -60")
    low = float(match.group(1)) if match.group(1) else None
    high = float(match.group(2)) if match.group(2) else None
    if low is not None and high is not None and high <= low:
        raise ValidationError("duration's upper end must be above its lower end")
    return low, high


@bp.get("/tasks")
def tasks():
    service = current_app.extensions["mediacraft"].service
    query = parse_task_query()
    page = service.list_tasks(g.user_id, query)
    snapshot = None
    if any(t.status is TaskStatus.QUEUED for t in page.tasks):
        snapshot = service.storage.queue_snapshot()
    return envelope(
        {
            "tasks": [service.describe(t, snapshot) for t in page.tasks],
            "pagination": {
                "page": query.offset // query.limit + 1,
                "per_page": query.limit,
                "total": page.total,
                "pages": (page.total + query.limit - 1) // query.limit,
            },
        }
    )
