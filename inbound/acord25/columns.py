"""Column geometry of the COVERAGES table, from its printed header (or the form's proportions)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from statistics import median

from .layout import PAGE_W, Box, Page


@dataclass
class Columns:
    ltr_x1: float
    addl: tuple[float, float]
    subr: tuple[float, float]
    number: tuple[float, float]
    eff: tuple[float, float]
    exp: tuple[float, float]
    lim_label_x0: float
    value_x0: float


# Column edges of the printed form as fractions of the span from the INSR column's left edge
# to the limits-label column (measured on the 2016/03 edition; other editions match).
_FRACTIONS = {
    "insr_x1": 0.047,
    "addl": 0.385,
    "subr": 0.429,
    "subr_x1": 0.473,
    "eff": 0.767,
    "exp": 0.882,
}


def find_columns(page: Page, header_top: float, left: float | None) -> Columns | None:
    t, b = header_top - 8, header_top + 16
    insr = page.find("INSR", x1=80, top=t, bottom=b) or page.find("LTR", x1=80, top=t, bottom=b)
    addl = page.find("INSD", x0=100, top=t, bottom=b) or page.find("ADDL", top=t, bottom=b)
    subr = page.find("WVD", x0=100, top=t, bottom=b) or page.find("SUBR", top=t, bottom=b)
    eff = page.find_all("(MM/DD/YYYY)", x0=PAGE_W * 0.4, top=t, bottom=b)
    pe = page.find("POLICY EFF", x0=PAGE_W * 0.4, top=t, bottom=b)
    px = page.find("POLICY EXP", x0=PAGE_W * 0.4, top=t, bottom=b)
    if pe and px:
        eff = [
            Box(min([pe.x0] + [e.x0 for e in eff if e.x0 < px.x0 - 10]), pe.top, pe.x1, pe.bottom),
            px,
        ]
    lim_label = page.find(
        "EACH OCCURRENCE", x0=PAGE_W * 0.55, top=header_top, bottom=header_top + 60
    )
    if not lim_label:
        return None
    x_left = insr.x0 if insr else left
    if x_left is None:
        return None
    span = lim_label.x0 - x_left

    def frac(key: str) -> float:
        return x_left + _FRACTIONS[key] * span

    ltr_x1 = insr.x1 + 5 if insr and insr.x1 - insr.x0 < 25 else frac("insr_x1") + 5
    addl_x0 = addl.x0 if addl and abs(addl.x0 - frac("addl")) < 15 else frac("addl")
    subr_x0 = subr.x0 if subr and abs(subr.x0 - frac("subr")) < 15 else frac("subr")
    subr_x1 = subr.x1 if subr and abs(subr.x0 - frac("subr")) < 15 else frac("subr_x1")
    if len(eff) >= 2 and abs(eff[0].x0 - frac("eff")) < 15 and abs(eff[1].x0 - frac("exp")) < 15:
        eff_x, exp_x = eff[0].x0, eff[1].x0
    else:
        eff_x, exp_x = frac("eff"), frac("exp")
    printed = _printed_header(addl, subr, eff, lim_label.x0)
    if printed is not None:  # a look-alike form with its own proportions: its header rules
        addl_x0, subr_x0, subr_x1, eff_x, exp_x = printed
    dollars = [w.x0 for w in page.words if w.text.strip() == "$" and w.x0 > lim_label.x0 + 50]
    value_x0 = (median(dollars) if dollars else lim_label.x0 + 88) - 2
    return Columns(
        ltr_x1=ltr_x1,
        addl=(addl_x0 - 4, subr_x0 - 1),
        subr=(subr_x0 - 1, subr_x1 + 4),
        number=(subr_x1 + 4, eff_x - 4),
        eff=(eff_x - 4, exp_x - 4),
        exp=(exp_x - 4, lim_label.x0 - 3),
        lim_label_x0=lim_label.x0 - 3,
        value_x0=value_x0,
    )


# how far (points) a look-alike form's header may sit from the ACORD 25's proportions
_LOOKALIKE = 45


def _printed_header(
    addl: Box | None, subr: Box | None, eff: list[Box], lim_x0: float
) -> tuple[float, float, float, float, float] | None:
    """Column edges from the header's own words, when all were read and stand in the form's
    order (ADDL INSD < SUBR WVD < POLICY EFF < POLICY EXP < the limits): a look-alike of the
    form ("INSR LTD", "REVISON NUMBER") draws its columns where it likes, tens of points from
    where the ACORD 25 has them, and the proportions then put every value in the wrong column."""
    if addl is None or subr is None or len(eff) < 2:
        return None
    xs = (addl.x0, subr.x0, eff[0].x0, eff[1].x0, lim_x0)
    if any(b - a < 12 for a, b in itertools.pairwise(xs)):
        return None
    if subr.x1 > eff[0].x0 - 20:  # no room for the policy number column
        return None
    return addl.x0, subr.x0, subr.x1, eff[0].x0, eff[1].x0
