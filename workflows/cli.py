"""`comms tick|scheduler|worker|simulate`, `comms campaign …`, `comms cases …`."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

import typer
from sqlalchemy import MetaData
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from comms import broker as broker_mod
from comms.actors import DeliveryBatches
from comms.channel_spec import channel_names, channel_spec
from comms.cli.context import console, engine, fail, now_option, settings, setup_logging
from comms.db import session_scope
from comms.models import Case, CaseEvent, Vendor
from comms.timeutil import parse_date, utcnow
from workflows.calendar import local_moment
from workflows.campaigns import run_campaign, segment_vendors, stop_campaign
from workflows.definitions import get_workflow
from workflows.lifecycle import CaseError, pause_case, resume_case
from workflows.models import Campaign
from workflows.next_due import next_delivery_line
from workflows.scheduler import tick
from workflows.simulate import simulate

cases_app = typer.Typer(help="Escalation cases: list, show, pause, resume.", no_args_is_help=True)
campaign_app = typer.Typer(help="Outreach campaigns to a segment of vendors.", no_args_is_help=True)


# other packages' work in each pass (the call desk's ended reservations), given by the root
PassStep = Callable[[Engine, datetime], object]
PASS_STEPS: list[PassStep] = []


def run_tick(now: datetime, *, drain: bool = True) -> dict[str, int]:
    """One scheduler pass; with the in-process broker, deliver what it planned."""
    cfg = settings()
    broker_mod.setup_broker(cfg)
    stub = broker_mod.is_stub()
    batches = DeliveryBatches(now=now)
    try:
        result = tick(engine(), now=now, settings=cfg, enqueue=batches)
    finally:
        batches.flush()  # what was planned and committed is asked for, even after an error
    for step in PASS_STEPS:
        step(engine(), now)
    if drain and stub:
        broker_mod.drain()
    return {
        "opened": result.opened,
        "advanced": result.advanced,
        "deliveries": len(result.deliveries),
        "swept": len(result.swept),
    }


def tick_cmd(
    now: str | None = typer.Option(None, "--now", help="ISO time (default: now)."),
) -> None:
    """Run one scheduler pass: open cases, advance due ones, enqueue and deliver."""
    setup_logging(settings().log_level)
    at = now_option(now)
    broker_mod.probe_broker(settings().broker_url)  # before anything is written
    out = run_tick(at)
    console.print(
        f"opened {out['opened']}, advanced {out['advanced']}, "
        f"queued {out['deliveries']} deliveries, re-enqueued {out['swept']}"
    )
    with Session(engine()) as s:
        console.print(next_delivery_line(s, now=at, settings=settings()), highlight=False)


def scheduler_cmd(
    interval: float = typer.Option(30.0, help="Seconds between passes."),
    once: bool = typer.Option(False, help="Run one pass and exit."),
) -> None:
    """Run scheduler passes in a loop (several may run at once on PostgreSQL)."""
    setup_logging(settings().log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        try:
            run_tick(utcnow())
        except KeyboardInterrupt:
            break
        except Exception:  # a failed pass (database restart, deadlock) is retried next time
            logging.getLogger(__name__).exception("scheduler pass failed")
        if once:
            break
        stop.wait(interval)


def simulate_command(metadata: MetaData) -> Callable[..., None]:
    """`comms simulate`, copying the tables of `metadata` (every package's, from the root)."""

    def simulate_cmd(
        start: str | None = typer.Option(
            None, "--from", help="Start date or datetime (default: now)."
        ),
        days: int = typer.Option(90, min=1, max=730),
        vendor: str | None = typer.Option(None, "--vendor", help="Only this vendor (exact name)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Dry-run timeline of what would be sent, to whom and when. Sends and writes nothing."""
        cfg = settings()
        if start and len(start) == 10:
            try:
                begin = local_moment(parse_date(start), datetime.min.time(), cfg)
            except ValueError as exc:
                raise fail(f"--from: {exc}") from None
        else:
            begin = now_option(start)
        try:
            plan = simulate(
                engine(),
                start=begin,
                days=days,
                settings=cfg,
                metadata=metadata,
                vendor_name=vendor,
            )
        except LookupError as exc:
            raise fail(str(exc)) from None
        if as_json:
            print(json.dumps([p.as_dict() for p in plan], indent=2))
            return
        for p in plan:
            local = p.at.astimezone(cfg.zone)
            deferred = ""
            if p.planned_for and p.planned_for != p.at:
                deferred = (
                    f"  (deferred from {p.planned_for.astimezone(cfg.zone):%a %Y-%m-%d %H:%M})"
                )
            console.print(
                f"{local:%a %Y-%m-%d %H:%M %Z}  {p.vendor}  case {p.case} {p.workflow}/{p.step}  "
                f"{p.channel} → {p.recipient_kind} {p.to}  [{p.template}]{deferred}",
                highlight=False,
                markup=False,
            )
        console.print(f"{len(plan)} planned messages over {days} days; nothing was sent.")

    return simulate_cmd


# --- cases ----------------------------------------------------------------------------------


def _ladder_steps(workflow: str) -> list[str]:
    try:
        return [step.id for step in get_workflow(workflow).steps]
    except LookupError:
        return []


@cases_app.command("list")
def cases_list(
    state: str | None = typer.Option(None, help="active, waiting, paused, resolved, exhausted"),
    vendor: str | None = typer.Option(None),
) -> None:
    with Session(engine()) as s:
        q = select(Case, Vendor).join(Vendor, col(Vendor.id) == col(Case.vendor_id))
        if state:
            q = q.where(Case.state == state)
        if vendor:
            q = q.where(col(Vendor.name).ilike(vendor))
        found = s.exec(q.order_by(col(Case.id))).all()
        if not found:
            console.print("no cases")
            return
        zone = settings().zone
        rows = [("case", "vendor", "ladder", "state", "step", "next step", "due")]
        for case, v in found:
            steps = _ladder_steps(case.workflow)
            step = steps[case.step_index] if case.step_index < len(steps) else "-"
            nxt = case.next_action_at
            rows.append(
                (
                    str(case.id),
                    v.name,
                    case.workflow,
                    case.state,
                    # past the last step (the ladder has run out): "7/7", never "8/7"
                    f"{min(case.step_index + 1, len(steps))}/{len(steps)}"
                    if steps
                    else str(case.step_index),
                    step,
                    f"{nxt.astimezone(zone):%Y-%m-%d %H:%M}" if nxt else "-",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            console.print(line.rstrip(), markup=False, highlight=False, soft_wrap=True)
        console.print(f"times in {settings().timezone}", highlight=False)


@cases_app.command("show")
def cases_show(case_id: int) -> None:
    with Session(engine()) as s:
        case = s.get(Case, case_id)
        if case is None:
            raise fail(f"no case {case_id}")
        console.print(
            f"case {case.id} {case.workflow} {case.state} step {case.step_index}", markup=False
        )
        events = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
        ).all()
        for e in events:
            console.print(
                f"  {e.at.isoformat()} {e.kind} {e.step or ''} {e.reason}",
                markup=False,
                highlight=False,
            )


def _staff_action(case_id: int, action: str, now: datetime, by: str) -> None:
    with session_scope(engine()) as s:
        case = s.get(Case, case_id)
        if case is None:
            raise fail(f"no case {case_id}")
        try:
            (pause_case if action == "pause" else resume_case)(s, case, now=now, by=by)
        except CaseError as exc:
            raise fail(str(exc)) from None
    console.print(f"case {case_id}: {action}d")


@cases_app.command("pause")
def cases_pause(
    case_id: int,
    now: str | None = typer.Option(None, "--now"),
    by: str = typer.Option("staff", "--by"),
) -> None:
    _staff_action(case_id, "pause", now_option(now), by)


@cases_app.command("resume")
def cases_resume(
    case_id: int,
    now: str | None = typer.Option(None, "--now"),
    by: str = typer.Option("staff", "--by"),
) -> None:
    _staff_action(case_id, "resume", now_option(now), by)


# --- campaigns ------------------------------------------------------------------------------


@campaign_app.command("start")
def campaign_start(
    template: str = typer.Option(..., help="Template name (templates/email/<name>.txt …)."),
    status: str | None = typer.Option(None, help="Segment: verdict status."),
    profile: str | None = typer.Option(None, help="Segment: requirement profile name."),
    expiring_within: int | None = typer.Option(None, help="Segment: expiring within N days."),
    channel: str = typer.Option("email", help="email, sms, call, call_task"),
    to: str = typer.Option("vendor", help="Comma-separated: vendor, agent, client."),
    name: str | None = typer.Option(None),
    every: int | None = typer.Option(None, help="Repeat every N days (default: one-off)."),
    limit: int | None = typer.Option(None, help="At most N vendors per run."),
    preview: bool = typer.Option(False, help="Show who would be contacted; write nothing."),
    now: str | None = typer.Option(None, "--now"),
) -> None:
    """Start an outreach campaign, e.g. --status non_compliant --template deficiency_notice."""
    cfg = settings()
    when = now_option(now)
    segment = {
        k: v
        for k, v in {
            "status": status,
            "profile": profile,
            "expiring_within": expiring_within,
        }.items()
        if v is not None
    }
    if not segment:
        raise fail("give a segment: --status, --profile or --expiring-within")
    if channel not in channel_names():
        raise fail(f"--channel: unknown channel {channel!r} (one of: {', '.join(channel_names())})")
    spec = channel_spec(channel)
    if not spec.has_template(template):
        raise fail(f"--template: no {channel} template templates/{spec.template_path(template)}")
    kinds = [k.strip() for k in to.split(",") if k.strip()]
    if not kinds or any(k not in ("vendor", "agent", "client") for k in kinds):
        raise fail(f"--to: expected vendor, agent and/or client, got {to!r}")
    try:
        if preview:
            with Session(engine()) as s:
                found = 0
                for v, verdict in segment_vendors(s, segment, now=when, settings=cfg):
                    if not limit or found < limit:
                        console.print(f"{v.name}\t{verdict.status.value}", markup=False)
                    found += 1
            console.print(f"{found} vendors in the segment; nothing was written.")
            return
        with session_scope(engine()) as s:
            campaign = Campaign(
                name=name or f"{template} to {', '.join(f'{k}={v}' for k, v in segment.items())}",
                channel=channel,
                template=template,
                recipients=kinds,
                segment=segment,
                every_days=every,
                max_per_run=limit,
                created_at=when,
            )
            s.add(campaign)
            s.flush()
            opened = run_campaign(s, campaign, now=when, settings=cfg)
            cid = campaign.id
    except LookupError as exc:
        raise fail(str(exc)) from None
    console.print(f"campaign {cid}: {len(opened)} cases opened; `comms tick` sends them")


@campaign_app.command("list")
def campaign_list() -> None:
    with Session(engine()) as s:
        for c in s.exec(select(Campaign).order_by(col(Campaign.id))).all():
            console.print(
                f"{c.id}\t{c.name}\t{c.state}\truns {c.runs}\t{c.segment}",
                markup=False,
                highlight=False,
            )


@campaign_app.command("stop")
def campaign_stop(
    campaign_id: int,
    now: str | None = typer.Option(None, "--now"),
    by: str = typer.Option("staff", "--by"),
) -> None:
    with session_scope(engine()) as s:
        c = s.get(Campaign, campaign_id)
        if c is None:
            raise fail(f"no campaign {campaign_id}")
        closed = stop_campaign(s, c, now=now_option(now), by=by)
    console.print(f"campaign {campaign_id} stopped; {closed} open cases resolved")


def register(
    app: typer.Typer,
    *,
    metadata: MetaData,
    worker: Callable[..., None],
    pass_steps: Sequence[PassStep] = (),
) -> None:
    """Add this package's commands to the `comms` app. The root gives the tables `comms
    simulate` copies, `comms worker` (it serves every package's actors), which is listed
    with the scheduler's commands, and the other packages' steps of each scheduler pass."""
    PASS_STEPS[:] = pass_steps
    app.command("tick")(tick_cmd)
    app.command("scheduler")(scheduler_cmd)
    app.command("worker")(worker)
    app.command("simulate")(simulate_command(metadata))
    app.add_typer(cases_app, name="cases")
    app.add_typer(campaign_app, name="campaign")
