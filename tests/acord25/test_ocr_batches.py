"""OCR read time: cell re-reads of one mode and whitelist share one Tesseract process (the
model is loaded once, the crops read as the pages of a list) and the processes run at once.
The words must come back to the crop they were read from, in the order asked."""

from __future__ import annotations

import io

from PIL import Image

from inbound.acord25.layout import PAGE_W, Word
from inbound.acord25.ocr import OcrJob, Rescanner, prepare, remove_rules, run_jobs, run_tesseract
from tests.support import acord25_cases as cases

from .conftest import real_sample


def _page() -> Image.Image:
    data, _ = real_sample("acord_25_2016_03_sample")
    return prepare(Image.open(io.BytesIO(cases.render(data, 300))))


def _text(words: list[Word]) -> str:
    return " ".join(w.text for w in words).upper()


def test_batched_reads_come_back_to_their_own_crops_in_order() -> None:
    page = _page()
    f = page.width / PAGE_W
    title = page.crop((int(150 * f), int(18 * f), int(470 * f), int(40 * f)))
    producer = page.crop((int(20 * f), int(120 * f), int(220 * f), int(134 * f)))
    blank = Image.new("L", (200, 60), 255)
    jobs = [
        OcrJob(title, 7),
        OcrJob(blank, 7),
        OcrJob(producer, 7),
        OcrJob(title, 7, "ABCDEFGHIJKLMNOPQRSTUVWXYZ "),
    ]
    read = run_jobs(jobs)
    assert len(read) == 4
    assert "LIABILITY" in _text(read[0])
    assert all(w.conf < 0.5 for w in read[1])  # a blank crop: at most noise, nothing sure
    assert "PRODUCER" in _text(read[2]) and "LIABILITY" not in _text(read[2])
    assert "LIABILITY" in _text(read[3])
    # the same crop read alone gives the same words as read in a batch
    assert [w.text for w in run_tesseract(title, psm=7)] == [w.text for w in read[0]]


def test_rescanner_many_matches_one_by_one() -> None:
    page = _page()
    rescan = Rescanner(page)
    regions = [
        (150.0, 18.0, 470.0, 40.0, "", 7),
        (20.0, 120.0, 220.0, 134.0, "", 7),
        (20.0, 128.0, 21.0, 129.0, "", 7),  # too small to read: nothing
    ]
    together = rescan.many(regions)
    alone = [rescan(*r) for r in regions]
    assert [[w.text for w in ws] for ws in together] == [[w.text for w in ws] for ws in alone]
    assert together[2] == []
    # words come back in page points, inside the region asked for
    assert all(w.x0 >= 145 and w.x1 <= 475 for w in together[0])


def test_rule_removal_erases_long_lines_and_keeps_print() -> None:
    img = Image.new("L", (600, 200), 255)
    img.paste(0, (10, 100, 590, 103))  # a ruling line
    img.paste(0, (50, 20, 53, 60))  # a short stroke (a glyph's)
    out = remove_rules(img)
    assert out.getpixel((300, 101)) == 255
    assert out.getpixel((51, 40)) == 0
