"""Email commands: `templates render|check`, `send-test`, `suppressions list|clear`."""

from __future__ import annotations

import uuid

import typer
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session, col, select

from comms.cli.context import console, engine, fail, now_option, settings
from comms.context import template_context
from comms.db import session_scope
from comms.dispatch import deliver
from comms.email.compose import sign_delivery
from comms.email.samples import load_samples, sample_context
from comms.models import Suppression, Vendor
from comms.outbox import SUPPRESSED, NewDelivery, clear_suppression, create_delivery
from comms.templating import (
    TemplateError,
    all_template_paths,
    email_template_names,
    environment,
    render_email,
)
from comms.yamlload import DataFileError

templates_app = typer.Typer(help="Message templates.", no_args_is_help=True)
suppressions_app = typer.Typer(help="Addresses that must not be emailed.", no_args_is_help=True)


def _print_email(subject: str, text: str, html: str, part: str) -> None:
    console.print(f"Subject: {escape(subject)}", highlight=False)
    if part in ("text", "all"):
        console.print("\n" + escape(text), highlight=False)
    if part in ("html", "all"):
        console.print("\n" + escape(html), highlight=False)


@templates_app.command("render")
def templates_render(
    name: str = typer.Argument(..., help="Email template name, e.g. renewal_request."),
    vendor: str | None = typer.Option(None, "--vendor", help="Vendor name (from the database)."),
    sample: str | None = typer.Option(None, "--sample", help="Sample scenario (no database)."),
    recipient: str = typer.Option("vendor", "--recipient", help="vendor, agent or client."),
    part: str = typer.Option("text", "--part", help="text, html or all."),
    now: str | None = typer.Option(None, "--now", help="ISO date/time to render as of."),
) -> None:
    """Preview one email for a vendor (or a sample scenario)."""
    if name not in email_template_names():
        raise fail(f"unknown email template {name!r}; have: {', '.join(email_template_names())}")
    when = now_option(now)
    try:
        if vendor is not None:
            with Session(engine(), expire_on_commit=False) as session:
                row = session.exec(select(Vendor).where(col(Vendor.name).ilike(vendor))).first()
                if row is None:
                    raise fail(f"no vendor named {vendor!r}")
                ctx = template_context(
                    session, row, now=when, recipient_kind=recipient, settings=settings()
                )
        else:
            samples = load_samples()
            scenario = sample or (samples.templates.get(name) or [next(iter(samples.scenarios))])[0]
            if scenario not in samples.scenarios:
                raise fail(f"unknown sample scenario {scenario!r}")
            ctx = sample_context(
                samples,
                scenario,
                settings=settings(),
                recipient_kind=recipient,
                now=when if now else None,
            )
        rendered = render_email(name, ctx)
    except (TemplateError, DataFileError) as exc:
        raise fail(str(exc)) from None
    _print_email(rendered.subject, rendered.text, rendered.html, part)


@templates_app.command("check")
def templates_check() -> None:
    """Render every email template against the sample data; compile every other template."""
    errors: list[str] = []
    count = 0
    try:
        samples = load_samples()
    except DataFileError as exc:
        raise fail(str(exc)) from None
    names = email_template_names()
    for name in names:
        scenarios = samples.templates.get(name)
        if not scenarios:
            errors.append(f"email/{name}: no sample scenario listed in email/_samples.yaml")
            continue
        for scenario in scenarios:
            for kind in ("vendor", "agent"):
                ctx = sample_context(samples, scenario, settings=settings(), recipient_kind=kind)
                try:
                    render_email(name, ctx)
                    count += 1
                except TemplateError as exc:
                    errors.append(f"{exc} (sample {scenario}, to {kind})")
    for name in samples.templates:
        if name not in names:
            errors.append(f"email/_samples.yaml: templates.{name}: no such email template")
    env = environment()
    for path in all_template_paths():
        if path.startswith("email/"):
            continue
        try:
            env.get_template(path)
            count += 1
        except Exception as exc:  # syntax errors name the file and line
            errors.append(f"{path}: {exc}")
    for err in errors:
        console.print(f"[red]FAIL[/red] {escape(err)}", highlight=False)
    if errors:
        raise fail(f"{len(errors)} template error(s)", code=1)
    console.print(f"[green]ok[/green]: {count} renders of {len(names)} email templates checked")


def send_test(
    to: str = typer.Option(..., "--to", help="Address to send the sample to."),
    template: str = typer.Option("certificate_request", "--template"),
    sample: str | None = typer.Option(None, "--sample", help="Sample scenario."),
    now: str | None = typer.Option(None, "--now"),
) -> None:
    """Send one rendered sample through the configured transport (SMTP or the outbox folder)."""
    when = now_option(now)
    s = settings()
    if "@" not in to:
        raise fail(f"--to: not an email address: {to!r}")
    try:
        samples = load_samples()
        scenario = sample or (samples.templates.get(template) or ["new_vendor"])[0]
        rendered = render_email(template, sample_context(samples, scenario, settings=s))
    except (TemplateError, DataFileError, KeyError) as exc:
        raise fail(str(exc)) from None
    eng = engine()
    with session_scope(eng) as session:
        row, _ = create_delivery(
            session,
            NewDelivery(
                idempotency_key=f"send-test:{uuid.uuid4().hex}",
                channel="email",
                recipient=to,
                recipient_kind="client",
                template=template,
                subject=f"[test] {rendered.subject}",
                body_text=rendered.text,
                body_html=rendered.html,
                content={"cc": [], "test": True},
            ),
            now=when,
        )
        sign_delivery(row, s)
        session.add(row)
        session.flush()
        delivery_id = row.id
        message_id = row.message_id
        status = row.status
    assert delivery_id is not None
    if status == "queued":
        done = deliver(delivery_id, now=when, engine=eng)
        status = done.status if done is not None else status
        error = done.error if done is not None else None
    else:
        error = SUPPRESSED
    transport = f"smtp {s.smtp_host}:{s.smtp_port}" if s.smtp_host else str(s.effective_outbox_dir)
    console.print(f"delivery {delivery_id}", highlight=False)
    console.print(f"Message-ID: {message_id}", highlight=False)
    console.print(f"status: {status} via {escape(transport)}", highlight=False)
    if status != "sent":
        raise fail(f"not sent: {error}", code=1)


@suppressions_app.command("list")
def suppressions_list(all_: bool = typer.Option(False, "--all", help="Include cleared.")) -> None:
    """Addresses on the suppression list."""
    with Session(engine()) as session:
        query = select(Suppression).order_by(col(Suppression.created_at))
        if not all_:
            query = query.where(col(Suppression.cleared_at).is_(None))
        rows = session.exec(query).all()
    table = Table("channel", "address", "reason", "since", "cleared")
    for r in rows:
        table.add_row(
            r.channel,
            r.address,
            r.reason,
            r.created_at.isoformat(),
            r.cleared_at.isoformat() if r.cleared_at else "",
        )
    console.print(table)
    console.print(f"{len(rows)} suppressed")


@suppressions_app.command("clear")
def suppressions_clear(
    address: str,
    by: str = typer.Option("staff", "--by", help="Who clears it (audit trail)."),
    channel: str = typer.Option("email", "--channel"),
    now: str | None = typer.Option(None, "--now"),
) -> None:
    """Allow sending to ADDRESS again."""
    when = now_option(now)
    with session_scope(engine()) as session:
        cleared = clear_suppression(session, channel, address, by=by, now=when)
    if not cleared:
        raise fail(f"{address} is not on the {channel} suppression list", code=1)
    console.print(f"cleared {escape(address)}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the `comms` app."""
    app.add_typer(templates_app, name="templates")
    app.add_typer(suppressions_app, name="suppressions")
    app.command("send-test")(send_test)
