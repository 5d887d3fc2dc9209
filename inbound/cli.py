"""`comms ingest FILE.eml`, `comms inbound list|show|retry|assign|watch`, `comms imap-listen`."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from dramatiq import Worker
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session, col, select

from comms import broker as broker_mod
from comms.actors import enqueue_delivery
from comms.cli.context import (
    console,
    engine,
    err_console,
    fail,
    now_option,
    settings,
    setup_logging,
)
from comms.dispatch import deliver
from comms.models import Certificate, Vendor, audit
from comms.redact import redact
from comms.settings import get_settings
from comms.stored_verdicts import verdict_on
from inbound import dropbox
from inbound.certificates import ReviewError, review_certificate
from inbound.imap import cli as imap_cli
from inbound.jobs import enqueue_processing
from inbound.models import InboundEmail, InboundStatus, raw_deferred
from inbound.outcome import IngestResult
from inbound.parse import not_a_message
from inbound.pipeline import process_message
from inbound.rejection import queue_rejection_notice
from inbound.store import store_raw

inbound_app = typer.Typer(
    help="Inbound email: the stored messages, the review list, quarantine.",
    no_args_is_help=True,
)


def _deliver_now(delivery_id: int, *, now: datetime) -> None:
    """The acknowledgment: sent at once with the in-process broker, else enqueued."""
    broker_mod.setup_broker(settings())
    if broker_mod.is_stub():
        deliver(delivery_id, now=now)
    else:
        enqueue_delivery(delivery_id, now=now)


def _process(inbound_id: int, now: datetime) -> IngestResult:
    return process_message(
        inbound_id, now=now, engine=engine(), settings=settings(), enqueue=_deliver_now
    )


def _print_result(result: IngestResult, as_json: bool, note: str = "") -> None:
    data = result.to_json()
    if as_json:
        keys = ("classification", "matched", "certificates", "verdict", "quarantined")
        out: dict[str, Any] = {k: data[k] for k in keys}
        out.update({k: v for k, v in data.items() if k not in keys})
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    line = f"inbound {result.inbound_id}: {result.status}, {result.classification or '-'}"
    console.print(escape(line + (f" ({note})" if note else "")))
    if result.matched:
        v = result.matched["vendor"]
        console.print(escape(f"  vendor: {v['name']} (by {result.matched['method']})"))
    for c in result.certificates:
        console.print(escape(f"  certificate {c['id']}: {c['status']}, {c['insured']}"))
    if result.verdict:
        console.print(escape(f"  verdict: {result.verdict['status']}"))
        for d in result.verdict["deficiencies"]:
            console.print(escape(f"    - {d['message']}"))
    if result.quarantined:
        kind = "permanent" if result.quarantine_permanent else "transient"
        code = f" ({result.quarantine_code}, {kind})" if result.quarantine_code else ""
        console.print(f"  [red]quarantined{code}:[/red] {escape(result.quarantined)}")


def ingest_cmd(
    path: Path = typer.Argument(..., help="An .eml file (raw RFC 5322 message)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    now: str | None = typer.Option(None, "--now", help="Process as of this ISO time."),
) -> None:
    """Ingest one message: store it, process it, print what happened."""
    when = now_option(now)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(f"{path}: cannot read: {exc.strerror or exc}") from None
    problem = not_a_message(raw)
    if problem is not None:
        raise fail(f"{path}: {problem}; nothing was stored")
    with Session(engine(), expire_on_commit=False) as session:
        row, created = store_raw(session, raw, source="file", mailbox=None, now=when)
    assert row.id is not None
    result = _process(row.id, when)
    _print_result(result, as_json, "" if created else "already ingested")
    if result.status == InboundStatus.QUARANTINED.value:
        raise typer.Exit(1)


def list_cmd(
    status: str | None = typer.Option(None, help="stored|processing|processed|review|quarantined"),
    review: bool = typer.Option(False, "--review", help="Only the review list (unmatched)."),
    limit: int = typer.Option(50, min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List stored inbound messages, newest first."""
    query = select(InboundEmail).order_by(col(InboundEmail.id).desc()).limit(limit)
    if review:
        query = query.where(
            col(InboundEmail.status) == InboundStatus.REVIEW.value,
            col(InboundEmail.reviewed_at).is_(None),
        )
    elif status:
        query = query.where(col(InboundEmail.status) == status)
    with Session(engine()) as session:
        rows = session.exec(query).all()
    items = [
        {
            "id": r.id,
            "received_at": r.received_at.isoformat(),
            "status": r.status,
            "classification": r.classification,
            "sender": r.sender,
            "subject": r.subject,
            "vendor_id": r.vendor_id,
            "case_id": r.case_id,
            "reason": r.quarantine_reason,
            "code": r.quarantine_code,
            "permanent": r.quarantine_permanent if r.quarantine_code else None,
        }
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    table = Table()
    for name in ("id", "received", "status", "kind", "from", "subject", "vendor", "reason"):
        table.add_column(name)
    for i in items:
        table.add_row(
            str(i["id"]),
            str(i["received_at"])[:16],
            str(i["status"]),
            str(i["classification"] or ""),
            str(i["sender"] or ""),
            str(i["subject"] or "")[:40],
            str(i["vendor_id"] or ""),
            (f"{i['code']}: " if i["code"] else "") + str(i["reason"] or "")[:60],
        )
    console.print(table)


def show_cmd(
    inbound_id: int = typer.Argument(...),
    raw: bool = typer.Option(False, "--raw", help="Print the raw message bytes."),
) -> None:
    """Show one stored message's result (or its raw bytes)."""
    with Session(engine()) as session:
        row = session.get(InboundEmail, inbound_id)
    if row is None:
        raise fail(f"no inbound message {inbound_id}")
    if raw:
        typer.echo(row.raw.decode("utf-8", "replace"))
        return
    _print_result(IngestResult.from_row(row), True)


def _requeue(session: Session, row: InboundEmail, *, now: datetime, note: str) -> None:
    row.status = InboundStatus.STORED.value
    row.quarantine_reason = None
    row.quarantine_code = None
    row.quarantine_permanent = False
    row.lease_until = None
    session.add(row)
    audit(
        session,
        action="inbound.requeue",
        entity="inbound_email",
        entity_id=row.id,
        at=now,
        data={"note": note},
    )


def retry_cmd(
    ids: list[int] = typer.Argument(None, help="Quarantined message ids (default: all)."),
    force: bool = typer.Option(
        False, "--force", help="Retry the permanent ones too (after fixing their cause)."
    ),
    now: str | None = typer.Option(None, "--now", help="Process as of this ISO time."),
) -> None:
    """Run quarantined messages through the pipeline again: the transient ones (a server
    down, an internal error); the permanent ones (a refused attachment, a message too large)
    are named and left unless --force. Exits 1 when a retried one is still in quarantine."""
    when = now_option(now)
    with Session(engine(), expire_on_commit=False) as session:
        query = (  # not their raw bytes: each is loaded by its own run below
            select(InboundEmail)
            .where(col(InboundEmail.status) == InboundStatus.QUARANTINED.value)
            .options(raw_deferred())
        )
        if ids:
            query = query.where(col(InboundEmail.id).in_(ids))
        rows = list(session.exec(query.order_by(col(InboundEmail.id))).all())
        missing = set(ids or []) - {r.id for r in rows}
        if missing:
            raise fail(f"not in quarantine: {', '.join(map(str, sorted(missing)))}")
        held = [r for r in rows if r.quarantine_permanent and not force]
        rows = [r for r in rows if force or not r.quarantine_permanent]
        for row in rows:
            _requeue(session, row, now=when, note="retry")
        session.commit()
    for row in held:
        err_console.print(
            f"inbound {row.id} not retried: permanent ({row.quarantine_code}): "
            f"{redact(row.quarantine_reason or '')}; --force retries it",
            markup=False,
            highlight=False,
        )
    still = 0
    for row in rows:
        assert row.id is not None
        result = _process(row.id, when)
        still += result.status == InboundStatus.QUARANTINED.value
        _print_result(result, False)
    held_note = f", {len(held)} permanent not retried" if held else ""
    console.print(f"{len(rows)} retried, {still} still in quarantine{held_note}")
    if still:
        raise typer.Exit(1)


def assign_cmd(
    inbound_id: int = typer.Argument(..., help="A message on the review list."),
    vendor: str = typer.Option(..., "--vendor", help="Vendor name or vendor code."),
    by: str = typer.Option("staff", help="Who made the match (audit log)."),
    now: str | None = typer.Option(None, "--now"),
) -> None:
    """Match a reviewed message to a vendor by hand and process it again."""
    when = now_option(now)
    with Session(engine(), expire_on_commit=False) as session:
        row = session.get(InboundEmail, inbound_id)
        if row is None:
            raise fail(f"no inbound message {inbound_id}")
        if row.status not in (InboundStatus.REVIEW.value, InboundStatus.QUARANTINED.value):
            raise fail(f"inbound message {inbound_id} is {row.status}, not on the review list")
        found = session.exec(
            select(Vendor).where((Vendor.vendor_code == vendor) | (Vendor.name == vendor))
        ).all()
        if len(found) != 1:
            raise fail(f"--vendor {vendor!r}: {'no' if not found else 'more than one'} match")
        row.vendor_id = found[0].id
        row.match_method = "staff"
        row.reviewed_at = when
        row.reviewed_by = by
        _requeue(session, row, now=when, note=f"assigned to vendor {found[0].id} by {by}")
        session.commit()
    _print_result(_process(inbound_id, when), False)


def watch_cmd(
    folder: Path = typer.Argument(None, help="Drop folder (default COMMS_DROPBOX_DIR)."),
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
) -> None:
    """Read a drop folder of .eml files (or a maildir) into the pipeline."""
    cfg = settings()
    setup_logging(cfg.log_level)
    target = folder or cfg.dropbox_dir
    if target is None:
        raise fail("no folder given and COMMS_DROPBOX_DIR is not set")
    if once:
        ids = dropbox.scan(target, engine(), now=now_option(None), enqueue=lambda i: None)
        for i in ids:
            _process(i, now_option(None))
        console.print(f"{len(ids)} message(s) read from {escape(str(target))}")
        return
    broker = broker_mod.setup_broker(cfg)
    worker = None
    if broker_mod.is_stub(broker):
        worker = Worker(broker, worker_threads=2)
        worker.start()
    stop = threading.Event()
    cfg = cfg.model_copy(update={"dropbox_dir": target})
    try:
        dropbox.run(settings=cfg, stop=stop, engine=engine(), enqueue=enqueue_processing)
    except KeyboardInterrupt:
        stop.set()
    finally:
        if worker is not None:
            worker.stop()


certificates_app = typer.Typer(
    help="Certificates received by email that wait for a person's review.",
    no_args_is_help=True,
)


def certificates_list_cmd(
    status: str = typer.Option("needs_review", help="needs_review|accepted|rejected|superseded"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List certificates by status (default: the ones waiting for review)."""
    with Session(engine()) as session:
        rows = session.exec(
            select(Certificate, Vendor)
            .join(Vendor, col(Vendor.id) == col(Certificate.vendor_id))
            .where(col(Certificate.status) == status)
            .order_by(col(Certificate.id))
        ).all()
    items: list[dict[str, Any]] = [
        {
            "id": c.id,
            "vendor": v.name,
            "received_at": c.received_at.isoformat(),
            "source": c.source,
            "inbound_message_id": c.inbound_message_id,
            "doubtful_fields": list(c.doubtful_fields),
            "review_reasons": list(c.extraction.get("review_reasons") or []),
        }
        for c, v in rows
    ]
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    table = Table()
    for name in ("id", "vendor", "received", "why"):
        table.add_column(name)
    for i in items:
        why = "; ".join(i["review_reasons"]) or ", ".join(i["doubtful_fields"])
        table.add_row(str(i["id"]), str(i["vendor"]), str(i["received_at"])[:16], why[:100])
    console.print(table)


def certificates_review_cmd(
    certificate_id: int = typer.Argument(...),
    accept: bool = typer.Option(False, "--accept", help="The certificate is right: count it."),
    reject: bool = typer.Option(False, "--reject", help="The certificate is wrong: ignore it."),
    by: str = typer.Option("staff", help="Who decided (audit log)."),
    note: str = typer.Option("", help="Why (audit log)."),
    reason: str = typer.Option(
        "", "--reason", help="With --reject: why, emailed to the sender in their thread."
    ),
    now: str | None = typer.Option(None, "--now"),
) -> None:
    """Accept or reject a certificate that waits for review."""
    if accept == reject:
        raise fail("give exactly one of --accept or --reject")
    if reason.strip() and not reject:
        raise fail("--reason goes with --reject")
    when = now_option(now)
    settings = get_settings()
    with Session(engine(), expire_on_commit=False) as session:
        try:
            cert = review_certificate(
                session, certificate_id, accept=accept, by=by, now=when, note=reason or note
            )
        except ReviewError as exc:
            raise fail(str(exc)) from None
        notice = None
        if reason.strip():
            notice = queue_rejection_notice(
                session,
                cert,
                reason=reason.strip(),
                by=by,
                verdict=verdict_on(session, cert.vendor_id, when.astimezone(settings.zone).date()),
                now=when,
                settings=settings,
            )
        session.commit()
    console.print(f"certificate {cert.id}: {cert.status}")
    if notice is not None:
        console.print(
            f"rejection notice to {notice.recipient}: delivery {notice.id} ({notice.status}); "
            "`comms tick` sends it"
        )


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `comms` app."""
    app.command("ingest")(ingest_cmd)
    inbound_app.command("list")(list_cmd)
    inbound_app.command("show")(show_cmd)
    inbound_app.command("retry")(retry_cmd)
    inbound_app.command("assign")(assign_cmd)
    inbound_app.command("watch")(watch_cmd)
    app.add_typer(inbound_app, name="inbound")
    certificates_app.command("list")(certificates_list_cmd)
    certificates_app.command("review")(certificates_review_cmd)
    app.add_typer(certificates_app, name="certificates")
    imap_cli.register(app)
