"""Checks made just before an SMS or a call leaves: opt-outs, quiet hours."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from comms.channels import SendOutcome
from comms.models import Delivery, Vendor
from comms.settings import Settings
from telephony.optout import is_opted_out
from workflows.calendar import recipient_zones, within_quiet_hours


def check_sms(session: Session, delivery: Delivery) -> SendOutcome | None:
    """None when the SMS may go; else the outcome to record instead."""
    vendor = session.get(Vendor, delivery.vendor_id) if delivery.vendor_id else None
    if is_opted_out(session, delivery.recipient) or (
        vendor is not None and vendor.opt_out_sms and vendor.phone == delivery.recipient
    ):
        return SendOutcome(status="skipped", error="recipient opted out of SMS")
    if not delivery.body_text:
        return SendOutcome(status="failed", error="SMS delivery has no body_text")
    return None


def check_call(
    session: Session, delivery: Delivery, settings: Settings, *, now: datetime
) -> SendOutcome | None:
    """None when the call may be placed now; a retry outside quiet hours (the last guard:
    the workflow already schedules calls inside them)."""
    vendor = session.get(Vendor, delivery.vendor_id) if delivery.vendor_id else None
    if vendor is not None and vendor.opt_out_call:
        return SendOutcome(status="skipped", error="recipient opted out of calls")
    zones = recipient_zones(vendor, settings, phone=delivery.recipient)
    if not within_quiet_hours(now, zones, settings):
        return SendOutcome(status="retry", error="outside quiet hours", error_code="quiet_hours")
    return None
