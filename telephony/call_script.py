"""The script of one call: whom to call, and for each vendor the call is about, why (every
deficiency, in words), what to ask, and the case history one event per line, in the
organization's time zone, in words (`templates/scripts/call.md`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from comms.context import template_context
from comms.models import Agent, Case, CaseEvent, Vendor
from comms.settings import Settings
from telephony import render

STEP_WORDS = {
    "certificate_request": "certificate request",
    "renewal_request": "renewal request",
}
EVENT_WORDS = {
    "opened": "case opened",
    "step_sent": "{step} sent",
    "step_skipped": "{step} not sent",
    "step_done": "{step} done",
    "step_failed": "{step} failed",
    "step_unreachable": "{step}: nobody to reach",
    "unreachable": "{step}: nobody to reach",
    "outcome": "outcome recorded",
    "snoozed": "waiting",
    "retry_planned": "{step} to be tried again",
    "retries_exhausted": "{step}: no more attempts",
    "resolved": "case resolved",
    "paused": "case paused",
    "resumed": "case resumed",
    "reply": "reply received",
    "auto_reply": "automatic reply received",
    "bounce": "email bounced",
    "certificate_received": "certificate received",
}
REASON_WORDS = {
    "expiring": "the certificate expires soon",
    "expired": "the certificate has expired",
    "deficient": "the certificate does not meet the requirements",
    "non_compliant": "the certificate does not meet the requirements",
    "missing": "no certificate on file",
}
# a vendor whose certificate has become compliant since its task was opened: nothing to ask
# about it (the task itself can be resolved only when every vendor it is about is compliant)
COMPLIANT_WHY = "the vendor is now compliant"


def resolvable_why(vendors: int) -> str:
    """The why of a task every one of whose `vendors` is now compliant."""
    who = "the vendor is" if vendors == 1 else f"all {vendors} vendors are"
    return f"{who} now compliant: this task can be resolved"


def why_words(status: str, trigger: str, reason: str) -> str:
    """Why a vendor is called, in words: by its verdict today (a case opened as "expiring"
    whose policies have since expired is about an expired certificate; a vendor now
    compliant needs no call), else the case's trigger, else the task's reason."""
    if status == "compliant":
        return COMPLIANT_WHY
    return REASON_WORDS.get(status) or REASON_WORDS.get(trigger) or reason.replace("_", " ")


# Events that are not contact with anyone (a step passed over because the case opened after
# its time): the caller's history lists what was done and said, not what was not.
NOT_HISTORY = {"step_skipped"}


def step_words(step: str | None) -> str:
    if not step:
        return "step"
    return STEP_WORDS.get(step, step.replace("_", " "))


def event_line(event: CaseEvent, zone: ZoneInfo) -> str:
    """One case event in words: `Mon Nov 2, 2026 9:00 AM EST: renewal request sent (email to
    agent)`."""
    at = event.at.astimezone(zone)
    when = f"{at:%a %b} {at.day}, {at:%Y} {at.hour % 12 or 12}:{at:%M %p %Z}"
    pattern = EVENT_WORDS.get(event.kind, event.kind.replace("_", " "))
    what = pattern.format(step=step_words(event.step))
    if event.from_state and event.to_state and event.kind not in EVENT_WORDS:
        what += f" ({event.from_state} to {event.to_state})"
    reason = (event.reason or "").strip()
    return f"{when}: {what}" + (f" ({reason})" if reason else "")


def history(session: Session, case_id: int | None, zone: ZoneInfo) -> list[str]:
    if case_id is None:
        return []
    return histories(session, [case_id], zone).get(case_id, [])


def histories(session: Session, case_ids: list[int], zone: ZoneInfo) -> dict[int, list[str]]:
    """The history of each case, in one query."""
    if not case_ids:
        return {}
    events = session.exec(
        select(CaseEvent)
        .where(col(CaseEvent.case_id).in_(case_ids), col(CaseEvent.kind).not_in(NOT_HISTORY))
        .order_by(col(CaseEvent.at), col(CaseEvent.id))
    ).all()
    lines: dict[int, list[str]] = {}
    for event in events:
        lines.setdefault(event.case_id, []).append(event_line(event, zone))
    return lines


def vendor_section(
    session: Session,
    item: dict[str, Any],
    *,
    target_kind: str,
    now: datetime,
    settings: Settings,
) -> dict[str, Any] | None:
    vendor = session.get(Vendor, item.get("vendor_id")) if item.get("vendor_id") else None
    if vendor is None:
        return None
    case = session.get(Case, item["case_id"]) if item.get("case_id") else None
    context = template_context(
        session, vendor, now=now, case=case, recipient_kind=target_kind, settings=settings
    )
    trigger = case.trigger if case is not None else ""
    return {
        "vendor": context["vendor"],
        "agent": context["agent"],
        "status": context["status"],
        "deficiencies": context["deficiencies"],
        "next_expiration": context["next_expiration"],
        "expired_since": context["expired_since"],
        "why": why_words(context["status"], trigger, item.get("reason") or ""),
        "history": history(session, case.id if case else None, settings.zone),
    }


def render_script(
    session: Session,
    items: list[dict[str, Any]],
    *,
    target_kind: str,
    target_name: str,
    phone: str | None,
    now: datetime,
    settings: Settings,
) -> str:
    sections = [
        s
        for s in (
            vendor_section(session, item, target_kind=target_kind, now=now, settings=settings)
            for item in items
        )
        if s is not None
    ]
    resolvable = bool(sections) and all(s["status"] == "compliant" for s in sections)
    if resolvable and len(sections) == 1:
        sections[0]["why"] = resolvable_why(1)
    agent = None
    if target_kind == "agent" and sections and sections[0]["agent"]:
        agent = sections[0]["agent"]
    context = {
        "target": {"kind": target_kind, "name": target_name, "phone": phone},
        "agent": agent,
        "vendors": sections,
        "resolvable": resolvable_why(len(sections)) if resolvable else "",
        "organization": {
            "name": settings.organization_name,
            "support_email": settings.support_email,
        },
    }
    return render.script("call", context)


def agent_of(session: Session, vendor: Vendor | None) -> Agent | None:
    if vendor is None or vendor.agent_id is None:
        return None
    return session.get(Agent, vendor.agent_id)
