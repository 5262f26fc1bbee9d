"""``/api/batches``: submit many inputs as one batch, follow, cancel and retry it."""

from __future__ import annotations

from flask import Blueprint, current_app, g

from .. import batches
from .envelope import envelope, error, json_body

bp = Blueprint("batches_api", __name__, url_prefix="/api/batches")


def _service():
    return current_app.extensions["mediacraft"].service


@bp.errorhandler(batches.BatchInputError)
def _bad_input(exc: batches.BatchInputError):
    return error(400, exc.message, {"index": exc.index, "reason": exc.reason, "detail": exc.detail})


@bp.post("")
def submit():
    service = _service()
    batch = batches.submit_batch(service, g.user_id, json_body())
    summary = batches.summarize(service, batch.batch_id, batch.tasks)
    return envelope(
        {
            "batch_id": batch.batch_id,
            "task_ids": [t.task_id for t in batch.tasks],
            "summary": summary,
        },
        code=201,
        message=f"Batch of {len(batch.tasks)} tasks queued",
    )


@bp.get("")
def index():
    items = batches.list_batches(_service(), g.user_id)
    return envelope({"batches": items, "total": len(items)})


@bp.get("/<batch_id>")
def summary(batch_id: str):
    return envelope(batches.get_summary(_service(), g.user_id, batch_id))


@bp.post("/<batch_id>/cancel")
def cancel(batch_id: str):
    data = batches.cancel_batch(_service(), g.user_id, batch_id)
    return envelope(data, message=f"{data['changed']} task(s) cancelled")


@bp.post("/<batch_id>/retry")
def retry(batch_id: str):
    data = batches.retry_batch(_service(), g.user_id, batch_id)
    return envelope(data, message=f"{data['changed']} failed task(s) queued again")
