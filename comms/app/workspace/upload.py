"""Staff upload a certificate for a vendor (`POST /vendors/{id}/certificates`): a PDF only,
no larger than COMMS_MAX_ATTACHMENT_BYTES. It is stored by its sha256 like an emailed one, read
in the extraction sandbox and recorded: accepted when every field was read with confidence and
the insured is the vendor, else held for the review desk. Anything else gets a readable 422."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route
from comms.app.workspace.security import COMPLIANCE, PageError, check_csrf, require_staff
from comms.models import CertificateSource, CertificateStatus, Vendor, audit
from comms.staff.sessions import SignedIn
from inbound.acord25 import ExtractionError, extract_certificate
from inbound.certificates import record_certificate
from workflows.lifecycle import reevaluate_vendor


def _record(
    ws: Workspace, vendor_id: int, name: str, data: bytes, who: SignedIn, now: datetime
) -> str:
    try:
        extraction = extract_certificate(data, filename=name)
    except ExtractionError as exc:
        raise PageError(422, f"The certificate could not be read: {exc}.") from None
    digest = hashlib.sha256(data).hexdigest()
    folder = ws.settings.documents_dir / digest[:2]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.pdf"
    if not path.exists():
        path.write_bytes(data)
    with ws.write() as session:
        vendor = session.get(Vendor, vendor_id)
        if vendor is None:
            raise PageError(404, f"There is no vendor {vendor_id}.")
        recorded = record_certificate(
            session,
            vendor,
            extraction,
            document_path=str(path),
            sha256=digest,
            reference=name,
            inbound_id=None,
            now=now,
        )
        cert = recorded.certificate
        if recorded.created:
            cert.source = CertificateSource.UPLOAD.value
            session.add(cert)
            audit(
                session,
                action="certificate.upload",
                entity="vendor",
                entity_id=vendor_id,
                actor=who.name,
                at=now,
                data={"before": None, "after": {"certificate": cert.id, "file": name}},
            )
            session.flush()
            if cert.status == CertificateStatus.ACCEPTED.value:
                reevaluate_vendor(session, vendor_id, now=now, reason=f"uploaded by {who.name}")
        session.commit()
        if not recorded.created:
            return f"This document is already on file as certificate {cert.id}."
        if cert.status == CertificateStatus.ACCEPTED.value:
            return f"Certificate {cert.id} was read and accepted."
        return f"Certificate {cert.id} is held for review: {'; '.join(recorded.review_reasons)}."


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)

    @api.post("/vendors/{vendor_id}/certificates")
    async def upload(
        request: Request, vendor_id: str, who: SignedIn = Depends(compliance)
    ) -> Response:
        await check_csrf(request, who)
        if not vendor_id.isdigit() or len(vendor_id) > 12:
            raise PageError(404, f"There is no vendor {vendor_id[:40]!r}.")
        form = await request.form()
        item = form.get("document")
        if not isinstance(item, UploadFile):
            raise PageError(422, "Choose a PDF file to upload.")
        limit = ws.settings.max_attachment_bytes
        data = await item.read(limit + 1)
        name = (item.filename or "upload.pdf")[:200]
        if len(data) > limit:
            raise PageError(422, f"The file is larger than {limit} bytes.", title="Too large")
        if not data.lstrip()[:5] == b"%PDF-":
            raise PageError(422, f"{name!r} is not a PDF: upload the certificate as a PDF file.")
        note = await asyncio.to_thread(_record, ws, int(vendor_id), name, data, who, ws.now())
        ws.hub.publish("vendor", {"vendor": int(vendor_id), "by": who.name})
        ws.hub.publish("dashboard", {})
        return RedirectResponse(f"/vendors/{vendor_id}?done={quote(note)}", status_code=303)

    return api
