"""Share links: a signed, expiring, revocable link that downloads one task's result.

A share is an entry in the task's record (``metadata["shares"]``: id, when
it was made, when it expires); the link carries the task id, the share id
and the expiry, signed with the app's key. A link works only while all of
these hold, checked in this order, each with its own answer:

* the signature is the server's and the task id in the path is the one signed
  (another task's id in the path: not found);
* it has not expired (the expiry is in the signed part, so a revoked or expired
  link cannot be stretched);
* the task still exists (deleting a task ends its links);
* the share is still in the record (revoking removes it);
* the task is completed and its result file is on disk.

The link needs no identity cookie and shows nothing but that one file.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from .exceptions import InvalidTransition, NotFound, ValidationError
from .links import LinkRefused
from .model import Task, TaskStatus, is_uuid
from .storage import StorageInterface

SHARES_KEY = "shares"
MIN_SECONDS = 60
MAX_SECONDS = 7 * 24 * 3600
DEFAULT_SECONDS = 24 * 3600
MAX_SHARES_PER_TASK = 20


def _serializer(secret_key: str | bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="mediacraft-share")


def make_token(secret_key: str | bytes, task_id: str, share_id: str, expires_at: int) -> str:
    return _serializer(secret_key).dumps({"t": task_id, "s": share_id, "e": expires_at})


@dataclass(frozen=True)
class ShareClaim:
    task_id: str
    share_id: str
    expires_at: int


def read_token(secret_key: str | bytes, task_id: str, token: str) -> ShareClaim:
    """The signed claim of ``token`` for ``task_id``; LinkRefused otherwise."""
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature:
        raise LinkRefused(
            "This share link is not valid; check that it was copied whole", "invalid", 404
        ) from None
    if (
        not isinstance(data, dict)
        or data.get("t") != task_id
        or not isinstance(data.get("s"), str)
        or not isinstance(data.get("e"), int)
    ):
        raise LinkRefused("This share link is not valid for this task", "invalid", 404)
    claim = ShareClaim(task_id, data["s"], data["e"])
    if time.time() >= claim.expires_at:
        raise LinkRefused("This share link has expired; ask for a new one", "expired")
    return claim


def parse_expires_in(payload: dict[str, Any]) -> int:
    value = payload.get("expires_in", DEFAULT_SECONDS)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("expires_in must be a whole number of seconds")
    if not MIN_SECONDS <= value <= MAX_SECONDS:
        raise ValidationError(
            f"expires_in must be between {MIN_SECONDS} seconds and 7 days ({MAX_SECONDS} seconds)"
        )
    return value


def live_shares(task: Task, now: float | None = None) -> dict[str, dict[str, Any]]:
    """The task's shares that have not expired."""
    now = time.time() if now is None else now
    shares = task.metadata.get(SHARES_KEY)
    if not isinstance(shares, dict):
        return {}
    return {
        sid: entry
        for sid, entry in shares.items()
        if isinstance(entry, dict) and int(entry.get("expires_at") or 0) > now
    }


def create_share(storage: StorageInterface, task: Task, expires_in: int) -> tuple[Task, str]:
    """Add a share to a completed task; (the updated task, the new share id)."""
    share_id = secrets.token_hex(8)
    now = int(time.time())

    def add(record: Task) -> None:
        if record.status is not TaskStatus.COMPLETED:
            raise InvalidTransition(
                f"Only a completed task can be shared; this one is {record.status.value}"
            )
        shares = live_shares(record, now)  # expired entries are dropped as new ones come
        if len(shares) >= MAX_SHARES_PER_TASK:
            raise InvalidTransition(
                f"This task already has {MAX_SHARES_PER_TASK} share links; revoke one first"
            )
        shares[share_id] = {"created_at": now, "expires_at": now + expires_in}
        record.metadata[SHARES_KEY] = shares

    return storage.update_task(task.task_id, add), share_id


def revoke_share(storage: StorageInterface, task: Task, share_id: str) -> None:
    def remove(record: Task) -> None:
        shares = record.metadata.get(SHARES_KEY)
        if not isinstance(shares, dict) or share_id not in shares:
            raise NotFound("No such share link on this task (it may be revoked already)")
        shares = {k: v for k, v in shares.items() if k != share_id}
        if shares:
            record.metadata[SHARES_KEY] = shares
        else:
            record.metadata.pop(SHARES_KEY, None)

    storage.update_task(task.task_id, remove)


def shared_task(storage: StorageInterface, claim: ShareClaim) -> Task:
    """The task a valid, unexpired claim points at, if the share still stands."""
    task = storage.get_task(claim.task_id) if is_uuid(claim.task_id) else None
    if task is None:
        raise LinkRefused("The shared task was deleted; this link no longer works", "deleted")
    if claim.share_id not in live_shares(task):
        raise LinkRefused("This share link was revoked by its owner", "revoked")
    if task.status is not TaskStatus.COMPLETED:
        raise LinkRefused("The shared result is no longer available", "deleted")
    return task
