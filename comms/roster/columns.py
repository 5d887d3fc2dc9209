"""Roster columns. Headers match ignoring case, spaces and punctuation."""

from __future__ import annotations

from comms.coverage import LIMIT_KEYS, normalize_token

FIELDS: tuple[str, ...] = (
    "vendor_name",
    "vendor_email",
    "vendor_phone",
    "vendor_contact",
    "vendor_timezone",
    "vendor_language",
    "agent_name",
    "agent_email",
    "agent_phone",
    "agency",
    "profile",
    "project",
    "coverage",
    "label",
    "insurer",
    "naic",
    "policy_number",
    "effective_date",
    "expiration_date",
    *LIMIT_KEYS,
    "additional_insured",
    "waiver_of_subrogation",
    "occurrence",
)

_ALIASES: dict[str, str] = {
    "vendor": "vendor_name",
    "vendorname": "vendor_name",
    "name": "vendor_name",
    "company": "vendor_name",
    "vendoremail": "vendor_email",
    "vendoremailaddress": "vendor_email",
    "vendorphone": "vendor_phone",
    "vendorphonenumber": "vendor_phone",
    "contact": "vendor_contact",
    "contactname": "vendor_contact",
    "agent": "agent_name",
    "agentname": "agent_name",
    "agentemail": "agent_email",
    "agentphone": "agent_phone",
    "agency": "agency",
    "agencyname": "agency",
    "requirementprofile": "profile",
    "coveragetype": "coverage",
    "policytype": "coverage",
    "carrier": "insurer",
    "insurancecompany": "insurer",
    "policyno": "policy_number",
    "policy": "policy_number",
    "effective": "effective_date",
    "effdate": "effective_date",
    "expiration": "expiration_date",
    "expires": "expiration_date",
    "expdate": "expiration_date",
    "ai": "additional_insured",
    "addlinsd": "additional_insured",
    "waiver": "waiver_of_subrogation",
    "subrogationwaived": "waiver_of_subrogation",
    "subrwvd": "waiver_of_subrogation",
    "waiverofsubrogation": "waiver_of_subrogation",
    "csl": "combined_single_limit",
}

HEADER_MAP: dict[str, str] = {
    **{normalize_token(f): f for f in FIELDS},
    **_ALIASES,
}


def map_headers(headers: list[str]) -> tuple[dict[int, str], list[str]]:
    """Map column index → field; also return the headers that mean nothing to us."""
    mapping: dict[int, str] = {}
    unknown: list[str] = []
    taken: set[str] = set()
    for index, header in enumerate(headers):
        field = HEADER_MAP.get(normalize_token(header or ""))
        if field is None or field in taken:
            if (header or "").strip():
                unknown.append(header)
            continue
        mapping[index] = field
        taken.add(field)
    return mapping, unknown
