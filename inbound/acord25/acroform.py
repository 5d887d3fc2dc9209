"""AcroForm path: field names of the fillable ACORD 25 (2010/05, 2014/01, 2016/03 editions).

Names follow ACORD's data-dictionary convention (Entity_Property_Qualifier_A); XFA-derived
PDFs prefix them with "F[0].P1[0]." and suffix "[0]", which is stripped before lookup.
The first name of each tuple is the one the project's generated corpus writes.
"""

from __future__ import annotations

import re
from typing import Any

from .collector import Collector
from .normalize import clean_text, parse_date, parse_mark, parse_money

_A = "_A"
SCALAR_FIELDS: dict[str, tuple[str, ...]] = {
    "date": ("Form_CompletionDate_A",),
    "certificate_number": ("CertificateOfInsurance_CertificateNumberIdentifier_A",),
    "producer.name": ("Producer_FullName_A",),
    "producer.contact_name": ("Producer_ContactPerson_FullName_A",),
    "producer.phone": ("Producer_ContactPerson_PhoneNumber_A",),
    "producer.email": ("Producer_ContactPerson_EmailAddress_A",),
    "insured.name": ("NamedInsured_FullName_A",),
    "certificate_holder.name": ("CertificateHolder_FullName_A",),
    "description_of_operations": ("CertificateOfLiabilityInsurance_ACORDForm_RemarkText_A",),
}
ADDRESS_PREFIX = {
    "producer": "Producer",
    "insured": "NamedInsured",
    "certificate_holder": "CertificateHolder",
}
ADDRESS_PARTS = ("LineOne", "LineTwo", "CityName", "StateOrProvinceCode", "PostalCode")

# coverage -> (letter, addl, subr, number, eff, exp, occurrence, claims-made) field names
POLICY_FIELDS: dict[str, tuple[str, ...]] = {
    "general_liability": (
        "GeneralLiability_InsurerLetterCode_A",
        "CertificateOfInsurance_GeneralLiability_AdditionalInsuredCode_A",
        "Policy_GeneralLiability_SubrogationWaivedCode_A",
        "Policy_GeneralLiability_PolicyNumberIdentifier_A",
        "Policy_GeneralLiability_EffectiveDate_A",
        "Policy_GeneralLiability_ExpirationDate_A",
        "GeneralLiability_OccurrenceIndicator_A",
        "GeneralLiability_ClaimsMadeIndicator_A",
    ),
    "automobile_liability": (
        "Vehicle_InsurerLetterCode_A",
        "CertificateOfInsurance_AutomobileLiability_AdditionalInsuredCode_A",
        "Policy_AutomobileLiability_SubrogationWaivedCode_A",
        "Policy_AutomobileLiability_PolicyNumberIdentifier_A",
        "Policy_AutomobileLiability_EffectiveDate_A",
        "Policy_AutomobileLiability_ExpirationDate_A",
        "",
        "",
    ),
    "umbrella_liability": (
        "ExcessUmbrella_InsurerLetterCode_A",
        "CertificateOfInsurance_ExcessUmbrella_AdditionalInsuredCode_A",
        "Policy_ExcessLiability_SubrogationWaivedCode_A",
        "Policy_ExcessLiability_PolicyNumberIdentifier_A",
        "Policy_ExcessLiability_EffectiveDate_A",
        "Policy_ExcessLiability_ExpirationDate_A",
        "ExcessUmbrella_OccurrenceIndicator_A",
        "ExcessUmbrella_ClaimsMadeIndicator_A",
    ),
    "workers_compensation": (
        "WorkersCompensationEmployersLiability_InsurerLetterCode_A",
        "CertificateOfInsurance_WorkersCompensationEmployersLiability_AdditionalInsuredCode_A",
        "Policy_WorkersCompensationAndEmployersLiability_SubrogationWaivedCode_A",
        "Policy_WorkersCompensationAndEmployersLiability_PolicyNumberIdentifier_A",
        "Policy_WorkersCompensationAndEmployersLiability_EffectiveDate_A",
        "Policy_WorkersCompensationAndEmployersLiability_ExpirationDate_A",
        "",
        "",
    ),
    "other": (
        "OtherPolicy_InsurerLetterCode_A",
        "CertificateOfInsurance_OtherPolicy_AdditionalInsuredCode_A",
        "OtherPolicy_SubrogationWaivedCode_A",
        "OtherPolicy_PolicyNumberIdentifier_A",
        "OtherPolicy_PolicyEffectiveDate_A",
        "OtherPolicy_PolicyExpirationDate_A",
        "",
        "",
    ),
}
# 2010/05 edition aliases (GL row used the generic Policy_* names)
ALIASES: dict[str, tuple[str, ...]] = {
    "Policy_GeneralLiability_PolicyNumberIdentifier_A": ("Policy_PolicyNumberIdentifier_A",),
    "Policy_GeneralLiability_EffectiveDate_A": ("Policy_EffectiveDate_A",),
    "Policy_GeneralLiability_ExpirationDate_A": ("Policy_ExpirationDate_A",),
    "CertificateOfInsurance_GeneralLiability_AdditionalInsuredCode_A": (
        "CertificateOfInsurance_AdditionalInsuredCode_A",
    ),
}
OTHER_LABEL = "OtherPolicy_OtherPolicyDescription_A"
EXCESS_INDICATOR = "ExcessUmbrella_ExcessIndicator_A"
LIMIT_FIELDS: dict[str, dict[str, str]] = {
    "general_liability": {
        "each_occurrence": "GeneralLiability_EachOccurrence_LimitAmount_A",
        "damage_to_rented_premises": "GeneralLiability_FireDamageRentedPremises_EachOccurrenceLimitAmount_A",  # noqa: E501
        "medical_expense": "GeneralLiability_MedicalExpense_EachPersonLimitAmount_A",
        "personal_advertising_injury": "GeneralLiability_PersonalAndAdvertisingInjury_LimitAmount_A",  # noqa: E501
        "general_aggregate": "GeneralLiability_GeneralAggregate_LimitAmount_A",
        "products_completed_operations_aggregate": "GeneralLiability_ProductsAndCompletedOperations_AggregateLimitAmount_A",  # noqa: E501
    },
    "automobile_liability": {
        "combined_single_limit": "Vehicle_CombinedSingleLimit_EachAccidentAmount_A",
        "bodily_injury_per_person": "Vehicle_BodilyInjury_PerPersonLimitAmount_A",
        "bodily_injury_per_accident": "Vehicle_BodilyInjury_PerAccidentLimitAmount_A",
        "property_damage": "Vehicle_PropertyDamage_PerAccidentLimitAmount_A",
    },
    "umbrella_liability": {
        "each_occurrence": "ExcessUmbrella_Umbrella_EachOccurrenceAmount_A",
        "aggregate": "ExcessUmbrella_Umbrella_AggregateAmount_A",
    },
    "workers_compensation": {
        "el_each_accident": "WorkersCompensationEmployersLiability_EmployersLiability_EachAccidentLimitAmount_A",  # noqa: E501
        "el_disease_each_employee": "WorkersCompensationEmployersLiability_EmployersLiability_"
        "DiseaseEachEmployeeLimitAmount_A",
        "el_disease_policy_limit": "WorkersCompensationEmployersLiability_EmployersLiability_"
        "DiseasePolicyLimitAmount_A",
    },
}
CONF = 0.99


def short_name(name: str) -> str:
    """'F[0].P1[0].Producer_FullName_A[0]' -> 'Producer_FullName_A'."""
    return re.sub(r"\[\d+\]", "", name.rsplit(".", 1)[-1])


def field_values(reader: Any) -> dict[str, str]:
    try:
        fields = reader.get_fields() or {}
    except Exception:
        return {}
    out: dict[str, str] = {}
    for name, f in fields.items():
        value = f.get("/V") if hasattr(f, "get") else None
        if value is None:
            continue
        text = str(value).lstrip("/").strip()
        if text and text.lower() not in {"off", "0"}:
            out[short_name(str(name))] = text
    return out


def _get(values: dict[str, str], name: str) -> str | None:
    if not name:
        return None
    for n in (name, *ALIASES.get(name, ())):
        if n in values:
            return values[n]
    return None


def _policy_rows() -> list[tuple[str, tuple[str, ...], str]]:
    """(coverage, field names, label field) per row; the form has two "other" rows (_A, _B)."""
    rows = [(cov, names, OTHER_LABEL) for cov, names in POLICY_FIELDS.items()]
    other = POLICY_FIELDS["other"]
    second = tuple(re.sub(r"_A$", "_B", n) for n in other)
    return [*rows, ("other", second, re.sub(r"_A$", "_B", OTHER_LABEL))]


def read_acroform(values: dict[str, str]) -> Collector | None:
    """Collector from AcroForm values, or None when the form carries no ACORD 25 fields."""
    known = sum(1 for k in values if k.endswith(_A) or re.search(r"_[A-F]$", k))
    if known < 3:
        return None
    out = Collector()
    for path, names in SCALAR_FIELDS.items():
        raw = _get(values, names[0])
        value: Any = parse_date(raw) if path == "date" else clean_text(raw)
        out.put(path, value, CONF)
    for key, prefix in ADDRESS_PREFIX.items():
        parts = [_get(values, f"{prefix}_MailingAddress_{p}_A") for p in ADDRESS_PARTS]
        street = ", ".join(p for p in parts[:3] if p)
        tail = " ".join(p for p in parts[3:] if p)
        out.put(f"{key}.address", clean_text(", ".join(x for x in (street, tail) if x)), CONF)
    for letter in "ABCDEF":
        out.put(
            f"insurers.{letter}.name", clean_text(values.get(f"Insurer_FullName_{letter}")), CONF
        )
        out.put(
            f"insurers.{letter}.naic", clean_text(values.get(f"Insurer_NAICCode_{letter}")), CONF
        )
    i = 0
    for coverage, names, label_field in _policy_rows():
        ltr, addl, subr, number, eff, exp, occ, claims = (_get(values, n) for n in names)
        if not (number or eff):
            continue
        p = f"policies[{i}]"
        cov = coverage
        if coverage == "umbrella_liability" and parse_mark(values.get(EXCESS_INDICATOR)):
            cov = "excess_liability"
        out.put(f"{p}.coverage", cov, CONF)
        if coverage == "other":
            out.put(f"{p}.label", clean_text(values.get(label_field)), CONF)
        out.put(f"{p}.insurer", (ltr or "").strip().upper()[:1] or None, CONF)
        out.put(f"{p}.policy_number", clean_text(number), CONF)
        out.put(f"{p}.effective", parse_date(eff), CONF)
        out.put(f"{p}.expiration", parse_date(exp), CONF)
        out.put(f"{p}.additional_insured", bool(parse_mark(addl)), CONF)
        out.put(f"{p}.subrogation_waived", bool(parse_mark(subr)), CONF)
        if names[6]:
            if parse_mark(occ):
                out.put(f"{p}.occurrence", True, CONF)
            elif parse_mark(claims):
                out.put(f"{p}.occurrence", False, CONF)
        if coverage != "other":
            out.data["policies"][i].setdefault("limits", {})
            for key, fname in LIMIT_FIELDS[coverage].items():
                out.put(f"{p}.limits.{key}", parse_money(values.get(fname)), CONF)
        i += 1
    return out
