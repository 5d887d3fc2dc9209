"""The workspace in a real browser: Playwright driving Debian's Chromium (`chromium`, installed
by scripts/system-deps.sh; `playwright install` cannot download here). Skipped locally when
Chromium is missing, a failure under CI=true."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright
from sqlmodel import Session, select
from typer.testing import CliRunner

from comms.app.cli import app as cli
from comms.models import AuditLog, Certificate, Policy, Vendor
from comms.verdicts import vendor_verdict
from tests.support.services import require
from tests.workspace.conftest import NOW, PASSWORD, Live

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(
        Path(CHROMIUM).exists() or shutil.which("chromium") is not None,
        "Chromium (apt-get install chromium)",
    )
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


class Tab:
    """A page that records console errors and failed requests."""

    def __init__(self, context: Any, live: Live, shots: Path) -> None:
        self.page = context.new_page()
        self.live = live
        self.shots = shots
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("response", self._response)

    def _response(self, response: Any) -> None:
        """A failed subresource (script, style, image, htmx or SSE request) is an error; the
        page's own status (a 403, a 404) is what a test asserts."""
        if response.status >= 400 and response.request.resource_type != "document":
            self.errors.append(f"{response.status} {response.url}")

    def page_errors(self) -> list[str]:
        """Console errors other than the browser's note about the document's own status."""
        return [
            e
            for e in self.errors
            if not e.startswith("Failed to load resource: the server responded")
        ]

    def go(self, path: str) -> Any:
        return self.page.goto(self.live.url + path)

    def sign_in(self, name: str = "ann", password: str = PASSWORD, *, here: bool = False) -> None:
        if not here:
            self.go("/login")
        self.page.fill("input[name=name]", name)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def tab(browser: Any, live: Live, tmp_path: Path) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Tab(context, live, tmp_path)
    context.close()


def test_sign_in_and_sign_out(tab: Tab) -> None:
    tab.go("/vendors")
    assert tab.page.url.endswith("/login?next=/vendors")
    tab.shot("login")
    tab.sign_in("ann", "not the password", here=True)
    assert "do not match" in tab.page.content()
    tab.errors.clear()  # the browser logs the 401 of the refused sign-in
    tab.sign_in(here=True)
    assert tab.page.url.endswith("/vendors")  # back where the browser was sent from
    assert "ann (compliance)" in tab.page.inner_text("header")
    tab.page.click("text=Sign out")
    tab.page.wait_for_url("**/login")
    tab.go("/")
    assert "/login" in tab.page.url
    assert tab.errors == []


def test_csrf_refused(tab: Tab) -> None:
    tab.sign_in()
    tab.page.eval_on_selector("form.signout input[name=csrf]", "el => el.value = 'forged'")
    tab.page.click("text=Sign out")
    tab.page.wait_for_load_state()
    assert "Form refused" in tab.page.content()
    tab.shot("csrf-refused")
    tab.go("/")  # still signed in: the forged sign-out did nothing
    assert "Compliance on" in tab.page.content()


def test_caller_is_refused_on_compliance_pages(tab: Tab) -> None:
    tab.sign_in("carl")
    assert "call desk" in tab.page.content()
    response = tab.go("/vendors")
    assert response.status == 403
    assert "for admin or compliance staff" in tab.page.content()
    assert tab.page.inner_text("nav") == "Call desk"  # a caller sees no compliance pages
    tab.shot("caller-403")


def test_dashboard_numbers_equal_comms_status(tab: Tab) -> None:
    tab.sign_in()
    tab.go("/")
    report = json.loads(
        CliRunner().invoke(cli, ["status", "--json", "--now", NOW.isoformat()]).output
    )
    for status, count in report["counts"].items():
        assert tab.page.inner_text(f"[data-count={status}]") == str(count)
    assert tab.page.inner_text("[data-count=total]") == str(len(report["vendors"]))
    # every number links to the vendor list filtered to it
    tab.page.click("[data-count=expired]")
    tab.page.wait_for_url("**/vendors?status=expired")
    rows = tab.page.locator("table.list tbody tr").count()
    assert rows == report["counts"]["expired"]


def test_each_page_renders_without_console_errors(tab: Tab) -> None:
    tab.sign_in()
    tab.go("/vendors?q=acme")
    tab.page.click("text=Acme Roofing LLC")
    tab.page.wait_for_load_state("networkidle")
    vendor_url = tab.page.url
    image = tab.page.locator("figure.document img")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    pages = {
        "dashboard": "/",
        "vendors": "/vendors",
        "vendors-search": "/vendors?q=cedar",
        "vendor": vendor_url.removeprefix(tab.live.url),
        "outbox": "/outbox",
        "review-desk": "/review",
        "inbound": "/inbound",
        "not-found": "/vendors/abc",
    }
    for name, path in pages.items():
        tab.go(path)
        tab.page.wait_for_load_state("networkidle")
        assert tab.shot(name).stat().st_size > 5000
    tab.go("/outbox")
    text = tab.page.inner_text("main")
    assert "Certificate of insurance needed" in text
    assert "Reply STOP to opt out" in text  # a text message is readable as it is
    assert "reminder call about your certificate" in text
    # the not-found page is a 404, which the browser logs as a failed load: nothing else
    assert tab.page_errors() == []


def test_live_update_reaches_two_tabs(browser: Any, live: Live, tmp_path: Path, seeded) -> None:
    tabs = []
    for _ in range(2):
        context = browser.new_context()
        t = Tab(context, live, tmp_path)
        t.sign_in()
        t.go("/")
        t.page.wait_for_selector("body[data-live=sse]")
        tabs.append(t)
    before = tabs[0].page.inner_text("[data-number=needs_review] .big")
    with Session(seeded) as s:
        cert = s.exec(select(Certificate).where(Certificate.status == "needs_review")).one()
        s.add(Certificate(vendor_id=cert.vendor_id, status="needs_review", received_at=NOW))
        s.commit()
    live.publish("dashboard", {"reason": "test"})
    for t in tabs:
        t.page.wait_for_function(
            "n => document.querySelector('[data-number=needs_review] .big').textContent.trim() != n",
            arg=before,
        )
        assert t.page.inner_text("[data-number=needs_review] .big") == str(int(before) + 1)
        assert t.errors == []


def test_review_accepted_by_keyboard_changes_the_verdict(tab: Tab, seeded) -> None:
    with Session(seeded) as s:
        acme = s.exec(select(Vendor).where(Vendor.name == "Acme Roofing LLC")).one()
        fresh = s.exec(select(Vendor).where(Vendor.name == "Fresh Coat Painters")).one()
        assert vendor_verdict(s, fresh, NOW.date()).status.value == "missing"
        held = s.exec(select(Certificate).where(Certificate.status == "needs_review")).one()
        cert = Certificate(
            vendor_id=fresh.id or 0,
            source="email",
            status="needs_review",
            received_at=NOW,
            document_path=held.document_path,
            document_sha256=held.document_sha256,
            extraction={"insured": {"name": "Fresh Coat"}, "confidence": {"insured.name": 0.5}},
            doubtful_fields=["insured.name"],
        )
        s.add(cert)
        s.flush()
        for p in s.exec(select(Policy).where(Policy.vendor_id == acme.id)).all():
            data = p.model_dump(exclude={"id", "certificate_id", "vendor_id"})
            s.add(Policy(**data, certificate_id=cert.id or 0, vendor_id=fresh.id or 0))
        s.commit()
        cert_id, fresh_id = cert.id, fresh.id
    tab.sign_in()
    tab.go(f"/review/{cert_id}")
    tab.page.wait_for_load_state("networkidle")
    assert "doubtful" in tab.page.inner_text("main")
    tab.shot("review")
    with tab.page.expect_navigation():
        tab.page.keyboard.press("a")
    tab.page.wait_for_load_state()
    assert tab.page.url.rstrip("/").endswith("/review") or not tab.page.url.endswith(f"/{cert_id}")
    with Session(seeded) as s:
        assert s.get(Certificate, cert_id).status == "accepted"  # type: ignore[union-attr]
        judged = s.get(Vendor, fresh_id)
        assert judged is not None
        assert vendor_verdict(s, judged, NOW.date()).status.value == "compliant"
        audited = s.exec(select(AuditLog).where(AuditLog.action == "workspace.review")).one()
        assert audited.actor == "ann" and audited.entity_id == cert_id
    tab.go(f"/vendors/{fresh_id}")
    assert "compliant" in tab.page.inner_text("h1")
    assert tab.page_errors() == []
