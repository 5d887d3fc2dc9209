"""The staff workspace: server-rendered pages (Jinja2 templates in `templates/web/`, htmx
served from `templates/web/static/`), staff sign-in, and live updates over server-sent events.

`make_workspace` builds it; `comms.app.web.create_app` mounts it beside the webhooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Engine
from starlette.staticfiles import StaticFiles

from comms.app.workspace import (
    account,
    as_of,
    calls,
    dashboard,
    documents,
    inbound_mail,
    outbox,
    review,
    sandbox_phone,
    signin,
    stream,
    upload,
    vendor,
    vendor_actions,
    vendors,
    waivers,
)
from comms.app.workspace.context import Workspace
from comms.app.workspace.events import EventHub
from comms.app.workspace.pages import environment
from comms.app.workspace.pgbridge import bridge_for
from comms.settings import Settings
from comms.templating import DEFAULT_TEMPLATES_DIR, WEB_FOLDER, templates_dir


@dataclass
class Mounted:
    workspace: Workspace
    routers: list[APIRouter]
    static: StaticFiles
    bridge: Any = None
    _closed: bool = field(default=False)

    def start(self) -> None:
        if self.bridge is None:
            self.bridge = bridge_for(self.workspace.engine, self.workspace.hub)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.workspace.hub.close()
        if self.bridge is not None:
            self.bridge.close()


def make_workspace(
    settings: Settings,
    engine: Engine,
    *,
    reader: Engine,
    clock: Callable[[], datetime],
    enqueue: Callable[[int, datetime], None] | None = None,
) -> Mounted:
    folder = templates_dir() / WEB_FOLDER
    if not folder.is_dir():  # COMMS_TEMPLATES_DIR holds only message templates: ours, then
        folder = DEFAULT_TEMPLATES_DIR / WEB_FOLDER
    ws = Workspace(
        settings=settings,
        engine=engine,
        reader=reader,
        clock=clock,
        templates=environment(folder, settings.zone),
        hub=EventHub(),
    )
    if enqueue is not None:
        ws.enqueue = enqueue
    ws.hub.observers.append(ws.presence.observe)
    routers = [
        signin.router(ws),
        account.router(ws),
        dashboard.router(ws),
        vendors.router(ws),
        as_of.router(ws),
        vendor.router(ws),
        vendor_actions.router(ws),
        documents.router(ws),
        outbox.router(ws),
        review.router(ws),
        inbound_mail.router(ws),
        stream.router(ws),
        upload.router(ws),
        waivers.router(ws),
        calls.router(ws),
        sandbox_phone.router(ws),
    ]
    return Mounted(
        workspace=ws,
        routers=routers,
        static=StaticFiles(directory=str(folder / "static")),
    )
