"""Failure class 3 (images lose the coverage table): a low-resolution screenshot saved
enlarged (a "300 dpi" image, or a 200 dpi JPEG, of an 85 dpi screen capture) has no more
detail than it had on screen. Binarized at full size its blurred strokes merge into blots and
dates, policy numbers and limits were lost (33 of 51 fields right on the committed screenshot
enlarged 3x); it is read like the low-resolution image it was."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from inbound.acord25 import extract_in_process
from inbound.acord25.normalize import compare_key
from inbound.acord25.ocr import enlarged
from inbound.acord25.schema import flatten
from tests.support import acord25_cases as cases

from .conftest import SAMPLES, real_sample


def _screenshot(factor: float) -> Image.Image:
    img = Image.open(SAMPLES / "acord_25_2016_03_screenshot.png").convert("RGB")
    size = (round(img.width * factor), round(img.height * factor))
    return img.resize(size, Image.Resampling.LANCZOS)


def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, quality=60)
    return buf.getvalue()


def test_an_enlarged_screenshot_is_told_from_a_sharp_page() -> None:
    assert enlarged(_screenshot(3))
    assert enlarged(_screenshot(2))
    data, _ = real_sample("acord_25_2016_03_sample")
    sharp = Image.open(io.BytesIO(cases.render(data, 300)))
    assert not enlarged(sharp)
    scan, _ = real_sample("acord_25_2010_05_2014_01_sample")
    assert not enlarged(Image.open(io.BytesIO(cases.render(scan, 200))))


@pytest.mark.slow
@pytest.mark.parametrize(("factor", "fmt"), [(3, "PNG"), (2, "JPEG")])
def test_an_enlarged_screenshot_reads_like_the_screenshot(factor: int, fmt: str) -> None:
    _, expected = real_sample("acord_25_2016_03_screenshot")
    result = extract_in_process(_png(_screenshot(factor), fmt))
    want = flatten(expected)
    have = flatten(result.data)
    right = sum(compare_key(have.get(k)) == compare_key(v) for k, v in want.items())
    assert right >= 0.8 * len(want)
    for i in range(5):  # the dates of every row (all lost before)
        assert have.get(f"policies[{i}].effective") == want[f"policies[{i}].effective"]
