"""The stored tables. Import from the submodules; `registry` loads every package's tables."""

from comms.models.audit import AuditLog, audit
from comms.models.cases import OPEN_STATES, Case, CaseEvent, CaseState
from comms.models.certificates import Certificate, CertificateSource, CertificateStatus, Policy
from comms.models.outbox import (
    FINAL_STATUSES,
    Delivery,
    DeliveryStatus,
    Suppression,
)
from comms.models.roster import Agent, Project, RequirementProfile, Vendor
from comms.models.verdicts import VendorVerdict, VerdictChange, VerdictCount
from comms.models.waivers import Waiver

__all__ = [
    "FINAL_STATUSES",
    "OPEN_STATES",
    "Agent",
    "AuditLog",
    "Case",
    "CaseEvent",
    "CaseState",
    "Certificate",
    "CertificateSource",
    "CertificateStatus",
    "Delivery",
    "DeliveryStatus",
    "Policy",
    "Project",
    "RequirementProfile",
    "Suppression",
    "Vendor",
    "VendorVerdict",
    "VerdictChange",
    "VerdictCount",
    "Waiver",
    "audit",
]
