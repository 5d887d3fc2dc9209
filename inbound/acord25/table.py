"""Positional reader, part 2: the COVERAGES table (one block per coverage, columns by header)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from .collector import Collector
from .columns import Columns, find_columns
from .layout import PAGE_W, Box, Page, Word, compact, group_lines, line_text, within
from .normalize import clean_text, parse_date, parse_mark, parse_money, repair_digits
from .vocab import repair_label


def find_remarks_label(page: Page, top: float) -> Box | None:
    """The DESCRIPTION OF OPERATIONS / LOCATIONS / VEHICLES box label (or a readable part)."""
    return (
        page.find("DESCRIPTION OF OPERATIONS / LOCATIONS", x1=60, upper=True, top=top)
        or page.find("OF OPERATIONS / LOCATIONS", x1=150, upper=True, top=top)
        or page.find("(ACORD 101, Additional Remarks", x1=260, top=top)
    )


InkProbe = Callable[[float, float, float, float], float]
Rescan = Callable[[float, float, float, float, str, int], list[Word]]
# (label, x side, offset of the label's top below its block's top), per block
_BLOCK_ANCHORS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "automobile_liability": (
        ("AUTOMOBILE LIABILITY", "type", 2),
        ("COMBINED SINGLE", "lim", 0),
        ("SINGLE LIMIT", "lim", 0),
        ("ANY AUTO", "type", 14),
        ("BODILY INJURY (Per person)", "lim", 14),
    ),
    "umbrella_liability": (("UMBRELLA LIAB", "type", 0), ("EXCESS LIAB", "type", 11)),
    "workers_compensation": (
        ("WORKERS COMPENSATION", "type", 0),
        ("PER STATUTE", "lim", 2),
        ("AND EMPLOYERS", "type", 7),
        ("E.L. EACH ACC", "lim", 15),
        ("E.L. DISEASE - EA", "lim", 27),
    ),
}

# (compact label prefix, limit key) per coverage block, checked in order.
_LIMIT_LABELS: dict[str, tuple[tuple[str, str], ...]] = {
    "general_liability": (
        ("EACHOCC", "each_occurrence"),
        ("DAMAGETO", "damage_to_rented_premises"),
        ("PREMISES", "damage_to_rented_premises"),
        ("MEDEXP", "medical_expense"),
        ("PERSONAL", "personal_advertising_injury"),
        ("GENERALAGG", "general_aggregate"),
        ("PRODUCTS", "products_completed_operations_aggregate"),
    ),
    "automobile_liability": (
        ("COMBINED", "combined_single_limit"),
        ("SINGLELIMIT", "combined_single_limit"),
        ("BODILYINJURY(PERPERSON", "bodily_injury_per_person"),
        ("BODILYINJURY(PERACC", "bodily_injury_per_accident"),
        ("PROPERTY", "property_damage"),
        ("DAMAGE", "property_damage"),
    ),
    "umbrella_liability": (("EACHOCC", "each_occurrence"), ("AGGREGATE", "aggregate")),
    "workers_compensation": (
        ("E.L.EACH", "el_each_accident"),
        ("E.L.DISEASE-EA", "el_disease_each_employee"),
        ("E.L.DISEASE-POL", "el_disease_policy_limit"),
        ("EL.EACH", "el_each_accident"),
    ),
}


def _rescan_columns(
    page: Page, cols: Columns, top: float, values_bottom: float, bottom: float, rescan: Rescan
) -> Page:
    """Re-OCR the narrow value columns with character whitelists; keep the better reading."""
    strips = [
        (cols.ltr_x1 - 22, cols.ltr_x1 - 4, top, bottom, "ABCDEF", 6),
        (*cols.number, top, bottom, "", 6),
        (*cols.eff, top, bottom, "0123456789/", 11),
        (*cols.exp, top, bottom, "0123456789/", 11),
        (cols.value_x0, PAGE_W - 6, top, values_bottom, "$0123456789,.", 6),
    ]
    words = list(page.words)
    double = bool(getattr(rescan, "low_res", False))
    regions: list[tuple[float, float, float, float, str, int]] = []
    kept: list[tuple[float, float, float, float, str]] = []
    for x0, x1, t, b, wl, psm in strips:
        if x1 - x0 < 4:
            continue
        # never cut through a line of print: OCR of half glyphs derails the whole strip
        cut = [w for w in page.words if w.x1 > x0 - 6 and w.x0 < x1 + 6]
        t = max([t] + [w.bottom + 1 for w in cut if w.top - 1 < t < w.bottom + 1])
        b = min([b] + [w.top - 1 for w in cut if w.top - 1 < b < w.bottom + 1])
        kept.append((x0, x1, t, b, wl))
        regions.append((x0 - 3, t, x1 + 3, b, wl, psm))
        if double:  # low-resolution source: a second page mode fills the gaps of the first
            regions += [(x0 - 6, t - 2, x1 + 6, b, wl, mode) for mode in (psm, 17 - psm)]
    many = getattr(rescan, "many", None)
    read = many(regions) if many is not None else [rescan(*r) for r in regions]
    per = 3 if double else 1
    for k, (x0, x1, t, b, wl) in enumerate(kept):
        got = read[k * per : (k + 1) * per]
        fresh = [
            w for w in got[0] if w.text.strip() and x0 <= w.cx <= x1 and not _RULE.fullmatch(w.text)
        ]
        for more in got[1:]:
            fresh = _merge(fresh, [w for w in more if x0 <= w.cx <= x1], _VALID[wl])
        if not fresh:
            continue
        words = [w for w in words if not (x0 <= w.cx <= x1 and t <= w.cy <= b)] + fresh
    return Page(words)


# a column rule read as characters ("6089057 11": the "11" is the cell's ruling)
_RULE = re.compile(r"[1lI|!\]\[]{1,2}")

_VALID: dict[str, Callable[[str], bool]] = {
    "ABCDEF": lambda t: bool(re.fullmatch(r"[A-F]", t.strip())),
    "": lambda t: len(re.sub(r"[^A-Za-z0-9]", "", t)) >= 5 and any(c.isdigit() for c in t),
    "0123456789/": lambda t: parse_date(t) is not None,
    "$0123456789,.": lambda t: (parse_money(t) or 0) >= 100,
}


def _merge(first: list[Word], second: list[Word], valid: Callable[[str], bool]) -> list[Word]:
    good = [w for w in first if valid(w.text)]
    for w in second:
        if valid(w.text) and not any(abs(g.cy - w.cy) < 5 for g in good):
            good.append(w)
    return good + [w for w in first if not any(abs(g.cy - w.cy) < 5 for g in good)]


def _block_top(page: Page, kind: str, cols: Columns, top: float, bottom: float) -> float | None:
    got: list[float] = []
    for label, side, offset in _BLOCK_ANCHORS[kind]:
        if side == "type":
            b = page.find(label, x1=cols.addl[0], top=top, bottom=bottom)
        else:
            b = page.find(label, x0=cols.lim_label_x0 - 3, top=top, bottom=bottom)
        if b:
            got.append(b.top - offset)
    return min(got) if got else None


def read_policies(
    page: Page, out: Collector, base: float, ink: InkProbe | None, rescan: Rescan | None = None
) -> None:
    coverages = page.find("COVERAGES", x1=60, upper=True, top=150, bottom=500) or page.find(
        "COVERAGES", x1=110, upper=True, top=150, bottom=500
    )
    top0 = coverages.bottom if coverages else 200.0
    header = page.find("INSR", x1=80, top=top0, bottom=top0 + 90) or page.find(
        "LTR", x1=80, top=top0, bottom=top0 + 90
    )
    if not header:
        occ = page.find("EACH OCCURRENCE", x0=PAGE_W * 0.55, top=top0, bottom=top0 + 110)
        if not occ:
            return
        header = Box(occ.x0, occ.top - 14, occ.x1, occ.top - 4)
    cols = find_columns(page, header.top, coverages.x0 - 1 if coverages else None)
    if not cols:
        out.data.setdefault("_warnings", []).append("coverage table columns not found")
        return
    desc = find_remarks_label(page, header.bottom)
    table_bottom = desc.top - 1 if desc else header.top + 280
    lx = cols.lim_label_x0
    pol_lim = page.find("E.L. DISEASE - POLICY", x0=lx - 5, top=header.bottom, bottom=table_bottom)
    other_top = pol_lim.bottom + 4 if pol_lim else None
    if other_top is None:
        wc = _block_top(page, "workers_compensation", cols, header.bottom + 20, table_bottom)
        other_top = wc + 46 if wc is not None and wc + 46 < table_bottom else None
    if rescan is not None:
        number = page.find(
            "NUMBER",
            x0=cols.number[0],
            x1=cols.number[1],
            top=header.top - 2,
            bottom=header.top + 14,
        )
        rows_top = max(header.bottom, number.bottom if number else header.bottom) + 0.5
        page = _rescan_columns(
            page, cols, rows_top, other_top or table_bottom, table_bottom, rescan
        )
    t0 = header.bottom + 2
    starts: dict[str, float | None] = {"general_liability": t0}
    for kind in _BLOCK_ANCHORS:
        starts[kind] = _block_top(page, kind, cols, t0 + 20, table_bottom)
    order = [(k, v) for k, v in starts.items() if v is not None]
    policies: list[dict[str, Any]] = []
    confs: list[dict[str, float]] = []
    for i, (kind, top) in enumerate(order):
        assert top is not None
        nxt = order[i + 1][1] if i + 1 < len(order) else (other_top or table_bottom)
        assert nxt is not None
        if kind != "general_liability":
            top -= 3
        block = within(page.words, top=top, bottom=nxt - 1.5)
        got = _read_block(kind, block, cols, page, ink, top, nxt, rescan)
        if got:
            policies.append(got[0])
            confs.append(got[1])
            also = got[0].pop("_also", None)
            if also:
                policies.append(also[0])
                confs.append(also[1])
    if other_top is not None:
        for line in group_lines(within(page.words, top=other_top, bottom=table_bottom), tol=3):
            got = _read_block("other", line, cols, page, ink, line[0].top, line[0].bottom, rescan)
            if got:
                policies.append(got[0])
                confs.append(got[1])
    for i, (pol, conf) in enumerate(zip(policies, confs, strict=True)):
        out.data["policies"].append({})
        for key, value in pol.items():
            if isinstance(value, dict):
                out.data["policies"][i].setdefault(key, {})
                for k2, v2 in value.items():
                    out.put(f"policies[{i}].{key}.{k2}", v2, base * conf.get(f"{key}.{k2}", 1))
            else:
                out.put(f"policies[{i}].{key}", value, base * conf.get(key, 1))


def _header_words(text: str) -> bool:
    """A line of the column's printed header ("POLICY NUMBER", or its "NUMBER" alone when
    the header stands on two lines), never a policy number."""
    c = compact(text).upper().strip(":.")
    return c.startswith("POLICY") or c in {"NUMBER", "NUMBERS", "NO", "NO."}


def _prefix_match(text: str, prefix: str) -> bool:
    """Prefix equality allowing one OCR slip per 8 characters (6+ character prefixes)."""
    head = text[: len(prefix)]
    if head == prefix:
        return True
    if len(prefix) < 6 or len(head) < len(prefix):
        return False
    return sum(a != b for a, b in zip(head, prefix, strict=True)) <= len(prefix) // 8 + 0


def _frange(start: float, stop: float, step: float) -> list[float]:
    n = max(0, int((stop - start) / step) + 1)
    return [start + i * step for i in range(n)]


def _col(words: Sequence[Word], lo: float, hi: float) -> list[Word]:
    return sorted((w for w in words if lo <= w.cx <= hi), key=lambda w: (round(w.cy), w.x0))


def _read_block(
    kind: str,
    block: Sequence[Word],
    cols: Columns,
    page: Page,
    ink: InkProbe | None,
    top: float,
    bottom: float,
    rescan: Rescan | None = None,
) -> tuple[dict[str, Any], dict[str, float]] | None:
    pol: dict[str, Any] = {"coverage": kind}
    conf: dict[str, float] = {}
    number_lines = group_lines(_col(block, *cols.number))
    number_lines = [
        ln
        for ln in number_lines
        if not _header_words(line_text(ln)) and len(re.sub(r"[^A-Za-z0-9]", "", line_text(ln))) >= 3
    ]
    dates = {
        name: [(parse_date(w.text), w) for w in _col(block, *rng)]
        for name, rng in (("effective", cols.eff), ("expiration", cols.exp))
    }
    if not number_lines and not any(d for d, _ in dates["effective"] + dates["expiration"]):
        return None
    if rescan is not None:
        block = _fix_cells(block, cols, dates, number_lines, rescan)
        number_lines = [
            ln
            for ln in group_lines(_col(block, *cols.number))
            if len(re.sub(r"[^A-Za-z0-9]", "", line_text(ln))) >= 3
            and not _header_words(line_text(ln))
        ]
        dates = {
            name: [(parse_date(w.text), w) for w in _col(block, *rng)]
            for name, rng in (("effective", cols.eff), ("expiration", cols.exp))
        }
    letters = [
        w
        for w in block
        if w.x1 <= cols.ltr_x1 + 3
        and w.x0 < cols.ltr_x1
        and re.fullmatch(r"[A-Fa-f8]", compact(w.text).strip(".:,;!"))
    ]
    if letters:
        pol["insurer"] = compact(letters[0].text).strip(".:,;!").replace("8", "B")
        conf["insurer"] = letters[0].conf
    if number_lines:
        ln = number_lines[0]
        pol["policy_number"] = clean_text(line_text(ln))
        conf["policy_number"] = min(w.conf for w in ln)
    for name, found in dates.items():
        for iso, w in found:
            if iso:
                pol[name] = iso
                conf[name] = w.conf * (0.9 if repair_digits(w.text) != w.text else 1.0)
                break
    for name, rng in (("additional_insured", cols.addl), ("subrogation_waived", cols.subr)):
        marks = _col(block, *rng)
        joined = compact("".join(w.text for w in marks))
        if "N/A" in joined or (kind == "workers_compensation" and "Y/N" in joined):
            continue
        vals = [parse_mark(w.text) for w in marks]
        pol[name] = True in vals
        # nothing read in the cell of a scan: a mark may have been missed ("no" is doubtful;
        # measured: a blank-looking cell still hid a missed "X" on 7 real pages)
        unread = 0.9 if rescan is None else 0.88
        conf[name] = min((w.conf for w in marks if parse_mark(w.text)), default=unread)
        if False in vals and True not in vals:  # a printed "N": answered no, not a mark
            conf[name] = min(w.conf for w in marks if parse_mark(w.text) is False)
            continue
        if (
            not pol[name]
            and ink is not None
            and not (kind == "workers_compensation" and name == "additional_insured")
        ):
            if bottom - top > 12:
                ys = _frange(top + 2, bottom - 6, 3)
            else:  # one line of print (an "other" row): from just above it down its height
                ys = _frange(top - 2, max(top - 2, bottom - 6), 3)
            mid = (rng[0] + rng[1]) / 2  # the cell's middle: clear of the column rules
            # printed words reaching into the cell are not marks; a lone character that OCR
            # could not make out (an "X" at 150 dpi read "4" at no confidence) may be one
            text = [
                w
                for w in page.words
                if w.x1 > mid - 5
                and w.x0 < mid + 5
                and parse_mark(w.text) is None
                and not _garbled_mark(w, rng)
            ]
            ys = [y for y in ys if not any(w.top - 1 < y + 9 and w.bottom + 1 > y for w in text)]
            dens = max((ink(mid - 4, y, mid + 4, y + 9) for y in ys), default=0.0)
            if dens > 0.07:
                # ink in the cell: a mark, or a printed "N" that the page's OCR missed
                said = _read_mark(rescan, rng, top, bottom) if rescan is not None else None
                pol[name] = said is not False
                conf[name] = 0.75 if said is False else 0.7
    if kind == "other":
        label_words = [w for w in block if cols.ltr_x1 <= w.cx < cols.addl[0]]
        if rescan is not None and label_words:
            again = rescan(
                cols.ltr_x1 + 1,
                min(w.top for w in label_words) - 2,
                cols.addl[0] - 1,
                max(w.bottom for w in label_words) + 2,
                "",
                7,
            )
            if again and word_min(again) > word_min(label_words):
                label_words = again
        raw = clean_text(line_text(sorted(label_words, key=lambda w: w.x0)))
        label = repair_label(raw) if raw else None
        if label:
            pol["label"] = label
            conf["label"] = word_min(label_words) * (0.85 if label != raw else 1.0)
        return pol, conf
    _occurrence(kind, block, cols, ink, pol, conf)
    if kind == "umbrella_liability":
        excess, umbrella = (
            _marked_before(block, "EXCESS", cols),
            _marked_before(block, "UMBRELLA", cols),
        )
        if excess and not umbrella:
            pol["coverage"] = "excess_liability"
        if excess == umbrella:  # no mark read (or both): umbrella or excess is a guess
            conf["coverage"] = 0.75
    lkind = "umbrella_liability" if kind == "excess_liability" else kind
    limits, lconf = _limits(lkind, block, cols)
    pol["limits"] = limits
    conf.update({f"limits.{k}": v for k, v in lconf.items()})
    _second_insurer(pol, conf, letters, number_lines)
    return pol, conf


def _second_insurer(
    pol: dict[str, Any],
    conf: dict[str, float],
    letters: Sequence[Word],
    number_lines: Sequence[Sequence[Word]],
) -> None:
    """A row shared by two insurers ("B" over "C", two policy numbers, one set of dates and
    limits: an umbrella layered over two carriers) is two policies of that coverage; the
    second one rides along under `_also` for the caller to list after the first."""
    tags = [compact(w.text).strip(".:,;!").replace("8", "B") for w in letters]
    if len(tags) < 2 or tags[1] == tags[0] or len(number_lines) < 2:
        return
    second_line = number_lines[1]
    if abs(letters[1].cy - second_line[0].cy) > 6:  # the letter stands level with its number
        return
    other = {k: v for k, v in pol.items() if k not in {"insurer", "policy_number"}}
    other["insurer"] = tags[1]
    other["policy_number"] = clean_text(line_text(second_line))
    oconf = dict(conf)
    oconf["insurer"] = letters[1].conf
    oconf["policy_number"] = min(w.conf for w in second_line)
    pol["_also"] = (other, oconf)


def _fix_cells(
    block: Sequence[Word],
    cols: Columns,
    dates: dict[str, list[tuple[str | None, Word]]],
    number_lines: list[list[Word]],
    rescan: Rescan,
) -> list[Word]:
    """Re-read single cells of the row (located by a date that was read) that came out wrong."""
    anchors = [w for name in ("effective", "expiration") for iso, w in dates[name] if iso]
    if not anchors:
        return list(block)
    y = anchors[0].cy
    cells: list[tuple[tuple[float, float], str, int]] = []
    if not any(_VALID[""](line_text(ln)) for ln in number_lines):
        cells.append((cols.number, "", 7))
    if not any(
        re.fullmatch(r"[A-F]", compact(w.text))
        for w in block
        if w.x1 <= cols.ltr_x1 + 3 and w.x0 < cols.ltr_x1
    ):
        cells.append(((cols.ltr_x1 - 22, cols.ltr_x1 - 2), "ABCDEF", 10))
    for name, rng in (("effective", cols.eff), ("expiration", cols.exp)):
        if not any(iso for iso, _ in dates[name]):
            cells.append((rng, "0123456789/", 7))
    words = list(block)
    for (x0, x1), wl, psm in cells:
        for mode, dx in ((psm, 2), (11, 2), (psm, 0), (11, 0), (6, 4)):
            fresh = [
                w
                for w in rescan(x0 - dx, y - 7, x1 + dx / 2, y + 7, wl, mode)
                if _VALID[wl](w.text)
            ]
            if fresh:
                words = [w for w in words if not (x0 <= w.cx <= x1 and abs(w.cy - y) < 7)]
                words += fresh
                break
    return words


def _garbled_mark(w: Word, rng: tuple[float, float]) -> bool:
    """A one- or two-character word inside a mark cell, read with no confidence."""
    inside = rng[0] - 1 <= w.x0 and w.x1 <= rng[1] + 1
    return inside and len(compact(w.text)) <= 2 and w.conf < 0.3


def _read_mark(rescan: Rescan, rng: tuple[float, float], top: float, bottom: float) -> bool | None:
    """A mark cell read again on its own, as one of X, Y or N (None: nothing readable)."""
    said = [parse_mark(w.text) for w in rescan(rng[0] - 1, top, rng[1] + 1, bottom, "XYN", 6)]
    if True in said:
        return True
    return False if False in said else None


def word_min(words: Sequence[Word]) -> float:
    return min((w.conf for w in words), default=0.5)


def _marked_before(block: Sequence[Word], label: str, cols: Columns) -> bool:
    for w in block:
        if compact(w.text).startswith(label) and w.cx < cols.addl[0]:
            for m in block:
                if parse_mark(m.text) and w.x0 - 30 < m.x1 <= w.x0 + 1 and abs(m.cy - w.cy) < 5:
                    return True
    return False


def _occurrence(
    kind: str,
    block: Sequence[Word],
    cols: Columns,
    ink: InkProbe | None,
    pol: dict[str, Any],
    conf: dict[str, float],
) -> None:
    if kind not in {"general_liability", "umbrella_liability"}:
        return
    labels: dict[bool, Box] = {}
    for w in block:
        c = compact(w.text)
        if w.cx >= cols.addl[0]:
            continue
        if c.startswith("OCCUR") and True not in labels:
            labels[True] = Box(w.x0, w.top, w.x1, w.bottom)
        elif c.startswith("CLAIMS") and False not in labels:
            labels[False] = Box(w.x0, w.top, w.x1, w.bottom)
    for value, box in labels.items():
        for m in block:
            if parse_mark(m.text) and box.x0 - 26 < m.x1 <= box.x0 + 2 and abs(m.cy - box.cy) < 6:
                pol["occurrence"] = value
                conf["occurrence"] = m.conf
                return
    if ink and len(labels) == 2:
        dens = {v: ink(b.x0 - 14, b.top - 2, b.x0 - 3, b.bottom + 2) for v, b in labels.items()}
        if abs(dens[True] - dens[False]) > 0.06:
            pol["occurrence"] = dens[True] > dens[False]
            conf["occurrence"] = 0.75


def _limits(
    kind: str, block: Sequence[Word], cols: Columns
) -> tuple[dict[str, int], dict[str, float]]:
    table = _LIMIT_LABELS.get(kind, ())
    label_lines = group_lines([w for w in block if cols.lim_label_x0 <= w.x0 < cols.value_x0 - 2])
    anchors: dict[str, list[float]] = {}
    last: str | None = None
    last_y = -1e9
    for ln in label_lines:
        c = compact(line_text(ln)).replace(".", "")
        key = next((k for prefix, k in table if _prefix_match(c, prefix.replace(".", ""))), None)
        if key is None and c.startswith("(") and last and ln[0].cy - last_y < 9:
            key = last
        if key is None:
            last = None
            continue
        if key in anchors and key != last:
            continue
        anchors.setdefault(key, []).append(ln[0].cy)
        last, last_y = key, ln[0].cy
    centers = {k: sum(v) / len(v) for k, v in anchors.items()}
    limits: dict[str, int] = {}
    conf: dict[str, float] = {}
    # an amount read again starts a little left of the column ("$" on the column rule)
    vals = [w for w in block if w.x0 >= cols.value_x0 - 6 and w.text.strip() != "$"]
    for ln in group_lines(vals, tol=3):
        amount = parse_money(line_text(ln))
        if amount is None or not centers:
            continue
        key, cy = min(centers.items(), key=lambda kv: abs(kv[1] - ln[0].cy))
        if abs(cy - ln[0].cy) > 9 or key in limits:
            continue
        limits[key] = amount
        repaired = any(repair_digits(w.text) != w.text for w in ln)
        conf[key] = min(w.conf for w in ln) * (0.85 if repaired else 1.0)
    return limits, conf
