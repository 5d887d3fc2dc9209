"""The same held certificate accepted three times at once by one staff member, through a real
server (uvicorn, three connections released together): exactly one decision is applied (one
audit entry, one 303); the others get 409 and write nothing."""

from __future__ import annotations

import re
import threading

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from comms.models import AuditLog, Certificate
from comms.settings import get_settings
from tests.workspace.conftest import PAGE, PASSWORD, Clock
from tests.workspace.test_web_guard import _Served

TIMES = 3


def _csrf(client: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path, headers=PAGE).text)
    assert found, path
    return found.group(1)


def test_concurrent_accepts_apply_once(seeded: Engine, clock: Clock) -> None:
    with Session(seeded) as s:
        cert_id = s.exec(select(Certificate.id).where(Certificate.status == "needs_review")).one()
    with _Served(get_settings(), seeded, clock) as web:
        url = f"http://127.0.0.1:{web.port}"
        with httpx.Client(base_url=url, timeout=30) as ann:
            signed = ann.post(
                "/login",
                data={"name": "ann", "password": PASSWORD, "csrf": _csrf(ann, "/login")},
            )
            assert signed.status_code in (200, 303), signed.text
            csrf = _csrf(ann, "/")
            cookies = dict(ann.cookies)
        barrier = threading.Barrier(TIMES)
        codes: list[int] = []

        def accept() -> None:
            with httpx.Client(base_url=url, cookies=cookies, timeout=30) as client:
                client.get("/healthz")  # connected before the barrier
                barrier.wait()
                answer = client.post(f"/review/{cert_id}/accept", data={"csrf": csrf}, headers=PAGE)
                codes.append(answer.status_code)

        threads = [threading.Thread(target=accept) for _ in range(TIMES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sorted(codes) == [303, 409, 409], codes
    with Session(seeded) as s:
        cert = s.get(Certificate, cert_id)
        assert cert is not None and cert.status == "accepted"
        decisions = s.exec(
            select(func.count()).where(
                AuditLog.action == "workspace.review", AuditLog.entity_id == cert_id
            )
        ).one()
    assert decisions == 1
