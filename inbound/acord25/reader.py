"""Positional reader, part 1: header, parties, insurers and remarks of an ACORD 25 page.

Every region is located from printed labels found on the page, never from absolute
coordinates, so different editions, scales and OCR offsets are tolerated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .collector import Collector, word_conf
from .layout import PAGE_W, Box, Page, Word, compact, group_lines, line_text, within
from .normalize import clean_text, parse_date, repair_digits
from .schema import INSURER_LETTERS, flatten
from .table import find_remarks_label, read_policies

InkProbe = Callable[[float, float, float, float], float]
Rescan = Callable[[float, float, float, float, str, int], list[Word]]
_STREET = re.compile(r"^(\d+[A-Za-z\-]*|P\.?O\.?|PO)$")
_ADDR_START = re.compile(r"^(c/o|c/0|clo|c\.o\.|attn:?|p\.?\s?o\.?\s+box)\b", re.I)
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(\.[\w\-]+)+")
# a phone number or an e-mail address printed above the holder's name
# an account or reference number printed in the holder box ("182-972-0", "7616 1"), not a name
_CODE = re.compile(r"[\"'`]?[\d\-/#]+")
MARGIN = 5.0  # points left of a box's printed label that still lie inside the box
_PHONE_OR_EMAIL = re.compile(r"\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}|[\w.+\-]+@[\w\-]+(\.[\w\-]+)+")


def read_page(
    words: Sequence[Word],
    base_conf: float,
    ink: InkProbe | None = None,
    rescan: Rescan | None = None,
) -> Collector:
    page = Page(words)
    out = Collector()
    _header(page, out, base_conf, rescan)
    _parties(page, out, base_conf)
    _insurers(page, out, base_conf)
    read_policies(page, out, base_conf, ink, rescan)
    _remarks(page, out, base_conf)
    doubt_label_leaks(out)
    return out


# Printed labels of the form (compact, upper case): found inside a value, they show that the
# value ran into a neighbouring box ("...@FEDINS.COMAFFORDINGCOVERAGENaic", a certificate number
# "REVISION NUMBER", a contact name "statement on ... endorsement(s)").
_LABELS = tuple(
    compact(x)
    for x in (
        "REVISION NUMBER",
        "CERTIFICATE NUMBER",
        "AFFORDING COVERAGE",
        "NAIC #",
        "E-MAIL ADDRESS",
        "CONTACT NAME",
        "(A/C, No",
        "DESCRIPTION OF OPERATIONS",
        "CERTIFICATE HOLDER",
        "AUTHORIZED REPRESENTATIVE",
        "ENDORSEMENT(S)",
        "STATEMENT ON THIS CERTIFICATE",
        "INSR LTR",
        "ADDL INSD",
        "SUBR WVD",
        "POLICY EFF",
        "POLICY EXP",
        "EACH OCCURRENCE",
        "COVERAGES",
    )
)
_LEAK_CHECKED = re.compile(
    r"^(producer|insured|certificate_holder)\.|^insurers\.[A-F]\.name$|^certificate_number$"
    r"|^policies\[\d+\]\.(policy_number|label)$"
)
LEAK_CONF = 0.6


def doubt_label_leaks(out: Collector) -> None:
    """A value holding one of the form's printed labels is doubtful (it is never corrected)."""
    for path, value in flatten(out.data).items():
        if path in out.conf and isinstance(value, str) and _LEAK_CHECKED.match(path):
            c = compact(value)
            if any(label in c for label in _LABELS):
                out.conf[path] = min(out.conf[path], LEAK_CONF)


def _header(page: Page, out: Collector, base: float, rescan: Rescan | None) -> None:
    title = page.find("CERTIFICATE OF LIABILITY INSURANCE", top=0, bottom=120)
    producer = page.find("PRODUCER", x1=60, upper=True, top=60, bottom=400)
    limit_y = producer.top if producer else 150.0
    for w in within(page.words, x0=PAGE_W * 0.68, bottom=limit_y):
        iso = parse_date(w.text)
        if iso and "MM" not in w.text.upper():
            out.put("date", iso, base * w.conf)
            break
    label = page.find("DATE (MM/DD/YYYY)", x0=PAGE_W * 0.6, top=0, bottom=limit_y)
    if label is None and title is not None:  # the date box sits right of the title
        label = Box(PAGE_W * 0.85, title.top - 4, PAGE_W - 10, title.top + 2)
    if "date" not in out.conf and rescan is not None and label:
        for psm in (11, 6):
            for w in rescan(
                label.x0 - 15, label.bottom, PAGE_W - 4, label.bottom + 16, "0123456789/", psm
            ):
                iso = parse_date(w.text)
                if iso and "date" not in out.conf:
                    out.put("date", iso, base * w.conf * 0.9)
            if "date" in out.conf:
                break
    for line in page.lines:
        txt = line_text(line)
        m = re.search(r"ACORD\s*25\s*\(\s*(\d{4})\s*/\s*(\d{2})\s*\)", repair_digits_in_parens(txt))
        if m and line[0].cy > 600:
            out.put("edition", f"{m.group(1)}/{m.group(2)}", base * word_conf(line))
            out.put("form", "ACORD 25", base)
            break
    if "form" not in out.conf and title:
        out.put("form", "ACORD 25", base * 0.9)
    cert = page.find("CERTIFICATE NUMBER", x0=80, top=limit_y, bottom=500)
    if cert:
        _certificate_number(page, out, base, cert)
    if "certificate_number" not in out.conf:
        for line in page.lines:
            m = re.search(r"CERT\s*(?:NO|#)\s*[:.]?\s*(\S+)", line_text(line), re.I)
            if m and line[0].cy > 650:
                out.put("certificate_number", m.group(1), base * word_conf(line) * 0.9)
                break


_NOT_A_NUMBER = {"REVISION", "REVISON", "NUMBER", "NUMBER:", "#", ":"}


def _certificate_number(page: Page, out: Collector, base: float, cert: Box) -> None:
    """The value right of CERTIFICATE NUMBER, up to REVISION NUMBER (never that label)."""
    rev = page.find("REVISION NUMBER", top=cert.top - 4, bottom=cert.bottom + 4) or page.find(
        "REVISON NUMBER", top=cert.top - 4, bottom=cert.bottom + 4
    )
    right = rev.x0 - 2 if rev else PAGE_W * 0.66
    label = within(
        page.words, x0=cert.x0 - 1, x1=cert.x1 + 1, top=cert.top - 1, bottom=cert.bottom + 1
    )
    # "CERTIFICATE NUMBER:CL251750113": the value glued to the label
    glued = re.sub(r"^CERTIFICATE\s*NUMBER\s*[:#]?\s*", "", line_text(label), flags=re.I)
    vals = [
        w
        for w in within(
            page.words, x0=cert.x1 + 1, x1=right, top=cert.top - 4, bottom=cert.bottom + 4
        )
        if compact(w.text) not in _NOT_A_NUMBER
    ]
    text = clean_text(" ".join([glued] * (glued != line_text(label)) + [w.text for w in vals]))
    if text and any(c.isdigit() for c in text):
        out.put("certificate_number", text, base * word_conf(vals or label))


def repair_digits_in_parens(text: str) -> str:
    return re.sub(r"\(([^)]{5,9})\)", lambda m: "(" + repair_digits(m.group(1)) + ")", text)


_CARE_OF = re.compile(r"^(c/o|c/0|attn:?)$", re.I)


def _care_of_to_next_line(lines: list[list[Word]]) -> list[list[Word]]:
    """A line ending in "C/O" (or "Attn:") introduces the next line: move it there."""
    out = [list(ln) for ln in lines]
    for i in range(len(out) - 1):
        if len(out[i]) > 1 and _CARE_OF.match(out[i][-1].text):
            out[i + 1].insert(0, out[i].pop())
    return out


def split_name_address(lines: list[list[Word]]) -> tuple[str | None, str | None, float]:
    """First lines up to a street number (or c/o, PO Box) are the name; the rest the address."""
    lines = _care_of_to_next_line(lines)
    name_words: list[Word] = []
    addr_lines: list[str] = []
    in_addr = False
    # a number inside a line starts the address only if no later line starts it ("EMP 3 Inc")
    starts = [bool(_STREET.match(ln[0].text) or _ADDR_START.match(line_text(ln))) for ln in lines]
    for i, line in enumerate(lines):
        if in_addr:
            addr_lines.append(line_text(line))
            continue
        if name_words and _ADDR_START.match(line_text(line)):
            in_addr = True
            addr_lines.append(line_text(line))
            continue
        later = any(starts[i + 1 :])
        for j, w in enumerate(line):
            if (
                name_words
                and _STREET.match(w.text)
                and (j == 0 or (not later and not _in_a_name(line[j + 1 :])))
            ):
                in_addr = True
                # "HOME OFFICE: P.O. BOX 328" on a line of its own: the label goes with it
                k = j
                if i > 0 and any(x.text.endswith(":") for x in line[:j]):
                    k = 0
                    name_words = name_words[: len(name_words) - j]
                addr_lines.append(line_text(line[k:]))
                break
            name_words.append(w)
    name = clean_text(" ".join(w.text for w in name_words))
    if name is not None and sum(c.isalpha() for c in name) < 2:
        name = None  # a stray mark or number ("2", "*"), not a name: the box reads as empty
    address = clean_text(", ".join(a for a in addr_lines if a.strip()))
    return name, address, word_conf(name_words)


_COMPANY = re.compile(
    r"^(inc|llc|l\.l\.c|corp|corporation|co|company|ltd|lp|llp|pllc|pc)\.?,?$", re.I
)


def _in_a_name(rest: Sequence[Word]) -> bool:
    """Whether a number is part of a name, not a street number: "Park City 3 & 4 Apartments
    Inc." (a joined number, or a company suffix further on its line)."""
    if rest and rest[0].text.lower() in {"&", "and", "-"}:
        return True
    return any(_COMPANY.match(w.text) for w in rest)


def _parties(page: Page, out: Collector, base: float) -> None:
    producer = page.find("PRODUCER", x1=60, upper=True, top=60, bottom=400)
    contact = page.find("CONTACT", x0=PAGE_W * 0.35, top=60, bottom=400)
    insured = None
    if producer:
        insured = page.find(
            "INSURED", x1=90, upper=True, top=producer.bottom + 5, bottom=producer.top + 200
        )
    ins_b = page.find("INSURER B", x0=PAGE_W * 0.35, top=100, bottom=400, fuzzy=False, upper=True)
    if insured is None and producer and ins_b:  # the label sits level with INSURER B
        insured = Box(producer.x0, ins_b.top - 3, producer.x1, ins_b.top + 3)
    coverages = page.find("COVERAGES", x1=60, upper=True, top=150, bottom=500)
    insurer_a = page.find(
        "INSURER A", x0=PAGE_W * 0.35, top=100, bottom=400, fuzzy=False, upper=True
    )
    if contact is None and producer and insurer_a:  # CONTACT is level with PRODUCER
        contact = Box(insurer_a.x0, producer.top - 2.5, insurer_a.x0 + 30, producer.top + 3)
    right_edge = (contact.x0 if contact else insurer_a.x0 if insurer_a else PAGE_W * 0.5) - 3
    if producer:
        lower = insured.top - 1 if insured else producer.top + 60
        left = producer.x0 - MARGIN  # a note in the page margin is not in the box
        lines = group_lines(
            within(page.words, x0=left, x1=right_edge, top=producer.bottom + 0.5, bottom=lower)
        )
        name, addr, conf = split_name_address(lines)
        out.put("producer.name", name, base * conf)
        out.put("producer.address", addr, base * conf * 0.95)
    if insured:
        lower = coverages.top - 2 if coverages else insured.top + 60
        right = (insurer_a.x0 if insurer_a else right_edge) - 3
        lines = group_lines(
            within(
                page.words, x0=insured.x0 - MARGIN, x1=right, top=insured.bottom + 0.5, bottom=lower
            )
        )
        name, addr, conf = split_name_address(lines)
        out.put("insured.name", name, base * conf)
        out.put("insured.address", addr, base * conf * 0.95)
    if contact:
        _contact(page, out, base, contact)


_LABEL_WORDS = {"FAX", "PHONE", "E-MAIL", "ADDRESS:", "ADDRESS", "NAME:", "NAME", "CONTACT"}


def _contact(page: Page, out: Collector, base: float, contact: Box) -> None:
    region_x = contact.x0 + 36
    phone = page.find(
        "PHONE",
        x0=contact.x0 - 10,
        x1=contact.x0 + 20,
        top=contact.top + 3,
        bottom=contact.top + 40,
    )
    email = page.find(
        "E-MAIL",
        x0=contact.x0 - 10,
        x1=contact.x0 + 20,
        top=contact.top + 3,
        bottom=contact.top + 50,
    )
    # printed layout: PHONE 12.4 pt and E-MAIL 24 pt below CONTACT
    phone = phone or Box(contact.x0, contact.top + 12.4, contact.x1, contact.top + 17)
    email = email or Box(contact.x0, contact.top + 24, contact.x1, contact.top + 29)
    header = page.find(
        "INSURER(S) AFFORDING", x0=contact.x0, top=contact.top + 10, bottom=contact.top + 80
    )
    fax = page.find("FAX", x0=contact.x0 + 80, top=contact.top, bottom=contact.top + 40)
    name_bottom = phone.top - 1 if phone else contact.bottom + 4
    # label words right by the label are the label's; further right "CONTACT" is a value
    vals = [
        w
        for w in within(page.words, x0=region_x, top=contact.top - 1.5, bottom=name_bottom)
        if not (w.text.isupper() and compact(w.text) in _LABEL_WORDS and w.x0 < contact.x1 + 20)
    ]
    out.put(
        "producer.contact_name", clean_text(" ".join(w.text for w in vals)), base * word_conf(vals)
    )
    if phone:
        ph_bottom = email.top - 1 if email else phone.bottom + 8
        right = fax.x0 - 2 if fax else PAGE_W
        vals = within(page.words, x0=region_x, x1=right, top=phone.top - 2, bottom=ph_bottom)
        digits = re.sub(r"\D", "", repair_digits(" ".join(w.text for w in vals)))
        if len(digits) >= 7:
            tel = f"({digits[:3]}) {digits[3:6]}-{digits[6:10]}" if len(digits) >= 10 else digits
            out.put("producer.phone", tel, base * word_conf(vals))
    if email:
        em_bottom = header.top - 1 if header else email.bottom + 8
        lines = group_lines(within(page.words, x0=region_x, top=email.top - 3, bottom=em_bottom))
        vals = next((ln for ln in lines if any("@" in w.text for w in ln)), [])
        text = "".join(w.text for w in vals if not _is_label(w))
        m = _EMAIL.search(text.replace(" ", ""))
        if m:
            address, conf = m.group(0), base * word_conf(vals)
            glued = _GLUED_LABEL.match(address)
            if glued:  # "...@FEDINS.COMAFFORDINGCOVERAGENaic": the next label ran into it
                address, conf = glued.group(1), conf * 0.75
            out.put("producer.email", address, conf)


_GLUED_LABEL = re.compile(
    r"(.+@.+?\.(?:com|net|org|gov|edu|biz|info|us|co))(?:AFFORDING|COVERAGE|INSURER|NAIC|FAX|PHONE)",
    re.I,
)


def _is_label(w: Word) -> bool:
    """A printed form label (capitals, a label word), not part of a typed value."""
    return compact(w.text).strip(":#") in {
        "AFFORDING",
        "COVERAGE",
        "INSURER(S)",
        "INSURERS",
        "NAIC",
        "FAX",
        "PHONE",
        "ADDRESS",
    }


def _insurers(page: Page, out: Collector, base: float) -> None:
    header = page.find("INSURER(S) AFFORDING", x0=PAGE_W * 0.35, top=80, bottom=400)
    if not header:
        first = page.find(
            "INSURER A", x0=PAGE_W * 0.35, top=100, bottom=400, fuzzy=False, upper=True
        )
        if not first:
            return
        header = Box(first.x0 + 60, first.top - 12, first.x0 + 160, first.top - 6)
    naic = page.find("NAIC", x0=header.x1, top=header.top - 4, bottom=header.bottom + 4)
    rows: dict[str, Box] = {}
    for letter in INSURER_LETTERS:
        box = page.find(
            f"INSURER {letter}",
            x0=PAGE_W * 0.35,
            top=header.bottom,
            bottom=header.bottom + 110,
            fuzzy=False,
            upper=True,
        )
        if box:
            rows[letter] = box
    if len(rows) < 2:
        return
    _fill_missing_rows(rows)
    label_right = max(b.x1 for b in rows.values()) + 1
    naic_x = naic.x0 - 10 if naic else PAGE_W * 0.88
    pitch = (rows["F"].cy - rows["A"].cy) / 5
    cand = within(
        page.words,
        x0=label_right,
        top=rows["A"].cy - pitch * 0.6,
        bottom=rows["F"].cy + pitch * 0.6,
    )
    cand = [w for w in cand if w.text not in {":", "|"}]
    for letter in rows:
        mine = [
            w for w in cand if min(rows.items(), key=lambda kv: abs(kv[1].cy - w.cy))[0] == letter
        ]
        name_words = [w for w in mine if w.x1 < naic_x + 4]
        code_words = [w for w in mine if w.x1 >= naic_x + 4]
        name = clean_text(" ".join(w.text for w in sorted(name_words, key=lambda w: w.x0)))
        code = re.sub(r"\D", "", repair_digits("".join(w.text for w in code_words)))
        prefix = f"insurers.{letter}"
        out.put(f"{prefix}.name", name, base * word_conf(name_words))
        out.put(f"{prefix}.naic", code or None, base * word_conf(code_words))


def _fill_missing_rows(rows: dict[str, Box]) -> None:
    idx = {letter: i for i, letter in enumerate(INSURER_LETTERS)}
    known = sorted((idx[k], v) for k, v in rows.items())
    (i0, b0), (i1, b1) = known[0], known[-1]
    pitch = (b1.cy - b0.cy) / (i1 - i0) if i1 != i0 else 12.0
    for letter in INSURER_LETTERS:
        if letter not in rows:
            cy = b0.cy + (idx[letter] - i0) * pitch
            rows[letter] = Box(b0.x0, cy - 3, b0.x1, cy + 3)


def _remarks(page: Page, out: Collector, base: float) -> None:
    desc = find_remarks_label(page, 350)
    holder = page.find("CERTIFICATE HOLDER", x1=100, upper=True, top=450)
    if desc:
        cancel = page.find("CANCELLATION", x0=PAGE_W * 0.35, upper=True, top=desc.bottom + 10)
        ends = [b.top - 2 for b in (holder, cancel) if b is not None]
        lower = min(ends) if ends else desc.bottom + 80
        words = within(page.words, top=desc.bottom + 1, bottom=lower)
        lines = [ln for ln in group_lines(words, tol=4) if len(compact(line_text(ln))) > 1]
        words = [w for ln in lines for w in ln]
        text = clean_text(" ".join(line_text(li) for li in lines))
        out.put("description_of_operations", text, base * word_conf(words))
    if holder:
        cancel = page.find(
            "CANCELLATION", x0=PAGE_W * 0.35, top=holder.top - 6, bottom=holder.bottom + 6
        )
        right = cancel.x0 - 3 if cancel else PAGE_W * 0.48
        foot = page.find("ACORD 25", x1=120, top=holder.bottom + 20)
        copy = page.find("©", top=holder.bottom + 20)
        lower = min([b.top for b in (foot, copy) if b] or [holder.top + 110]) - 2
        lines = [
            [w for w in ln if not _PHONE_OR_EMAIL.fullmatch(w.text)]
            for ln in group_lines(
                within(
                    page.words, x0=holder.x0 - MARGIN, x1=right, top=holder.bottom + 1, bottom=lower
                )
            )
            if len(compact(line_text(ln))) > 1
        ]
        lines = [ln for ln in lines if ln]
        while lines and all(_CODE.fullmatch(w.text) for w in lines[0]):
            lines = lines[1:]  # an account number above the holder's name
        name, addr, conf = split_name_address(lines)
        out.put("certificate_holder.name", name, base * conf)
        out.put("certificate_holder.address", addr, base * conf * 0.95)
