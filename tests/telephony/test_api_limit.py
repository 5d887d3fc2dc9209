"""The staff API's `limit`: outside 1..MAX_LIMIT (negative, zero, huge, not a number) it is
refused with 422 naming the field, never a 500 with a traceback."""

from __future__ import annotations

import httpx
import pytest

from telephony.api import MAX_LIMIT
from tests.telephony.conftest import AppServer, staff_headers


@pytest.mark.parametrize("limit", ["-1", "0", str(MAX_LIMIT + 1), "9" * 40, "ten"])
def test_a_limit_out_of_range_is_422(app: AppServer, limit: str) -> None:
    with httpx.Client(base_url=app.url, headers=staff_headers("ann")) as ann:
        answer = ann.get("/api/tasks", params={"limit": limit})
    assert answer.status_code == 422, answer.text
    assert "limit" in answer.text and "Traceback" not in answer.text


def test_a_limit_in_range_is_taken(app: AppServer) -> None:
    with httpx.Client(base_url=app.url, headers=staff_headers("ann")) as ann:
        for limit in ("1", str(MAX_LIMIT)):
            answer = ann.get("/api/tasks", params={"limit": limit})
            assert answer.status_code == 200 and answer.json() == []
