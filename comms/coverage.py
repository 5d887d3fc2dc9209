"""Coverage and limit keys, shared by requirement profiles, the roster and ACORD 25 extraction.

The keys are exactly those of the extraction schema (`*.expected.json` of the ACORD 25 samples),
so a parsed certificate and a requirement speak the same words.
"""

from __future__ import annotations

COVERAGES: dict[str, str] = {
    "general_liability": "General liability",
    "automobile_liability": "Automobile liability",
    "umbrella_liability": "Umbrella liability",
    "excess_liability": "Excess liability",
    "workers_compensation": "Workers compensation",
    "other": "Other coverage",
}

LIMITS: dict[str, str] = {
    "each_occurrence": "each-occurrence",
    "damage_to_rented_premises": "damage-to-rented-premises",
    "medical_expense": "medical expense",
    "personal_advertising_injury": "personal and advertising injury",
    "general_aggregate": "general aggregate",
    "products_completed_operations_aggregate": "products-completed operations aggregate",
    "combined_single_limit": "combined single limit",
    "bodily_injury_per_person": "bodily injury per person",
    "bodily_injury_per_accident": "bodily injury per accident",
    "property_damage": "property damage",
    "aggregate": "aggregate",
    "el_each_accident": "employer's liability each-accident",
    "el_disease_each_employee": "employer's liability disease each-employee",
    "el_disease_policy_limit": "employer's liability disease policy limit",
}

COVERAGE_KEYS: tuple[str, ...] = tuple(COVERAGES)
LIMIT_KEYS: tuple[str, ...] = tuple(LIMITS)

# Names people write in spreadsheets, normalized (lowercase, alphanumerics only).
COVERAGE_ALIASES: dict[str, str] = {
    **{key.replace("_", ""): key for key in COVERAGES},
    "generalliability": "general_liability",
    "commercialgeneralliability": "general_liability",
    "gl": "general_liability",
    "cgl": "general_liability",
    "auto": "automobile_liability",
    "automobile": "automobile_liability",
    "autoliability": "automobile_liability",
    "automobileliability": "automobile_liability",
    "businessauto": "automobile_liability",
    "al": "automobile_liability",
    "umbrella": "umbrella_liability",
    "umbrellaliability": "umbrella_liability",
    "umb": "umbrella_liability",
    "excess": "excess_liability",
    "excessliability": "excess_liability",
    "workerscompensation": "workers_compensation",
    "workerscomp": "workers_compensation",
    "workercomp": "workers_compensation",
    "workmanscomp": "workers_compensation",
    "workerscompensationandemployersliability": "workers_compensation",
    "wc": "workers_compensation",
    "other": "other",
}


def normalize_token(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def coverage_key(text: str) -> str | None:
    """The coverage key for a name people write, or None when unknown."""
    return COVERAGE_ALIASES.get(normalize_token(text))


def coverage_name(key: str, label: str | None = None) -> str:
    if key == "other" and label:
        return label
    return COVERAGES.get(key, key.replace("_", " ").capitalize())


def limit_name(key: str) -> str:
    return LIMITS.get(key) or key.replace("_", " ")


def money(amount: int | None) -> str:
    return "not shown" if amount is None else f"${amount:,}"
