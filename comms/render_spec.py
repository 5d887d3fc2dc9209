"""The `content["render"]` entry of a delivery row whose content is rendered at its first send,
not when it is planned: written by the planners (`comms.email.compose.deferred_email`,
`workflows.outputs`), marked done by the renderers (`comms.deferred`)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

RENDER = "render"


@lru_cache(maxsize=64)
def render_spec(now: datetime) -> dict[str, Any]:
    """The `content["render"]` entry of a row whose content is rendered at send time. One
    object per moment, shared by the rows planned then: never changed in place."""
    return {"as_of": now.isoformat(), "pending": True}


def rendered_spec(content: dict[str, Any] | None) -> dict[str, Any]:
    """`content` with its render entry marked done (a new dict, so the change is stored)."""
    out = dict(content or {})
    out[RENDER] = {**out.get(RENDER, {}), "pending": False}
    return out
