"""A certificate's stored document, shown in the page: the file itself, and its first page as
an image (rendered with pdfium), so a PDF is readable without a PDF viewer."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from PIL import Image

from comms.app.workspace.context import Workspace
from comms.app.workspace.pages import page_route
from comms.app.workspace.security import COMPLIANCE, PageError, require_staff
from comms.models import Certificate
from comms.staff.sessions import SignedIn

MAX_WIDTH = 1400  # pixels of the page image

KINDS = ((b"%PDF", "application/pdf"), (b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def _media_type(head: bytes) -> str:
    for magic, media in KINDS:
        if head.startswith(magic):
            return media
    return "application/octet-stream"


def stored_file(ws: Workspace, certificate_id: str) -> tuple[Certificate, Path]:
    if not certificate_id.isdigit() or len(certificate_id) > 12:
        raise PageError(404, f"There is no certificate {certificate_id!r}.")
    with ws.read() as session:
        cert = session.get(Certificate, int(certificate_id))
    if cert is None or not cert.document_path:
        raise PageError(404, "This certificate has no stored document.")
    root = ws.settings.documents_dir.resolve()
    path = Path(cert.document_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise PageError(404, "This certificate's document is not in the documents folder.")
    return cert, path


def first_page_png(data: bytes, media: str) -> bytes:
    """PNG of the first page (a PDF) or of the image itself."""
    if media == "application/pdf":
        # pdfium (a native library) is loaded when a page image is first asked for, not at
        # start-up: most requests never need it
        import pypdfium2

        pdf = pypdfium2.PdfDocument(data)
        try:
            page = pdf[0]
            width = page.get_width() or 612
            image = page.render(scale=min(2.0, MAX_WIDTH / width)).to_pil()
            page.close()
        finally:
            pdf.close()
    else:
        image = Image.open(io.BytesIO(data))
        image.thumbnail((MAX_WIDTH, MAX_WIDTH * 2))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG", optimize=False)
    return out.getvalue()


def _keep(target: Path, png: bytes) -> None:
    """Write the rendered page beside the documents (atomically; a failure only costs time)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(png)
        partial.replace(target)
    except OSError:
        pass


def router(ws: Workspace) -> APIRouter:
    api = APIRouter(route_class=page_route(ws))
    compliance = require_staff(ws, COMPLIANCE)
    cache = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}

    @api.get("/certificates/{certificate_id}/document")
    def document(
        request: Request, certificate_id: str, _who: SignedIn = Depends(compliance)
    ) -> Response:
        _cert, path = stored_file(ws, certificate_id)
        data = path.read_bytes()
        media = _media_type(data[:8])
        disposition = "inline" if media != "application/octet-stream" else "attachment"
        headers = {
            **cache,
            "Content-Disposition": f'{disposition}; filename="certificate-{certificate_id}"',
        }
        return Response(data, media_type=media, headers=headers)

    @api.get("/certificates/{certificate_id}/page.png")
    async def page_image(
        request: Request, certificate_id: str, _who: SignedIn = Depends(compliance)
    ) -> Response:
        _cert, path = stored_file(ws, certificate_id)
        # documents are stored by their sha256: the rendered page is kept beside them, once
        cached = ws.settings.documents_dir / "pages" / f"{path.stem}.png"
        if cached.is_file():
            return Response(
                await asyncio.to_thread(cached.read_bytes), media_type="image/png", headers=cache
            )
        data = await asyncio.to_thread(path.read_bytes)
        media = _media_type(data[:8])
        if media == "application/octet-stream":
            raise PageError(415, "This document is not a PDF or an image.")
        try:
            png = await asyncio.to_thread(first_page_png, data, media)
        except Exception as exc:
            raise PageError(
                422, f"This document cannot be shown as an image ({type(exc).__name__})."
            ) from None
        await asyncio.to_thread(_keep, cached, png)
        return Response(png, media_type="image/png", headers=cache)

    return api
