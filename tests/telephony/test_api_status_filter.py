"""The staff API's task list: `status=` as the CLI takes it (`all` too); anything else 422."""

from __future__ import annotations

import httpx

from tests.telephony.conftest import AppServer, staff_headers


def test_status_filter_accepts_all_and_refuses_unknown_values(app: AppServer) -> None:
    with httpx.Client(base_url=app.url, headers=staff_headers("ann")) as ann:
        for status in ("open", "claimed", "wrapping", "done", "all"):
            r = ann.get("/api/tasks", params={"status": status})
            assert r.status_code == 200, (status, r.text)
            assert r.json() == []
        bad = ann.get("/api/tasks", params={"status": "opne"})
        assert bad.status_code == 422
        assert "status must be one of open, claimed, wrapping, done, all, not 'opne'" in bad.text
