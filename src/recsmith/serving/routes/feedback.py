"""Feedback: interaction events, stored durably before the answer, applied to the user's next list."""

from __future__ import annotations

import time

from fastapi import APIRouter, status

from recsmith.serving.deps import ApiKeyDep, ServiceDep, SettingsDep
from recsmith.serving.feedback import Event
from recsmith.serving.guard import GuardedRoute
from recsmith.serving.routes._limits import check_ids
from recsmith.serving.schemas import BODY_ERRORS, COMMON_ERRORS, KEY_ERRORS, FeedbackAcceptedPublic, FeedbackRequest

router = APIRouter(prefix="/v1", tags=["feedback"], route_class=GuardedRoute, responses=COMMON_ERRORS)


@router.post(
    "/feedback",
    response_model=FeedbackAcceptedPublic,
    status_code=status.HTTP_201_CREATED,
    responses={**BODY_ERRORS, **KEY_ERRORS},
)
def post_feedback(body: FeedbackRequest, service: ServiceDep, settings: SettingsDep, _key: ApiKeyDep) -> dict:
    """Store interaction events (fsync'd to the log before this answer); the users' next lists reflect them.

    All events of a request are stored, or none (any invalid event rejects the batch with 422 and
    names it). Events with item ids the served model does not know are stored too (a later bundle
    may know them) and listed in ``unknown_ids``; they change no list until then.
    """
    check_ids("events", body.events, settings.max_events)
    now = int(time.time())
    events = [
        Event(
            user_id=e.user_id,
            item_id=e.item_id,
            type=e.type,
            timestamp=e.timestamp if e.timestamp is not None else now,
            value=e.value,
        )
        for e in body.events
    ]
    ids, unknown = service.submit_feedback(events)
    answer = {"accepted": len(ids), "first_id": ids[0], "last_id": ids[-1], "unknown_ids": unknown}
    if service.ab is not None:
        answer["variants"] = {e.user_id: service.ab.spec.assign(e.user_id) for e in events}
    return answer
