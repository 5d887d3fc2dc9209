from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from inbound.acord25 import ExtractionError, extract_certificate, extract_in_process
from tests.support.pdfs import blank_pdf as _pdf
from tests.support.pdfs import encrypted_pdf as _encrypted
from tests.support.pdfs import flate_bomb_pdf as _flate_bomb

from .conftest import real_sample


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _huge_image() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (9000, 8000), 255).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("make", "codes"),
    [
        (lambda: b"", {"empty"}),
        (lambda: b"   \n", {"empty"}),
        (_encrypted, {"encrypted"}),
        (lambda: b"%PDF-1.7\n" + bytes(range(256)) * 40, {"corrupt"}),
        (lambda: _pdf(1)[:200], {"corrupt", "empty"}),
        (lambda: _pdf(0), {"empty"}),
        (lambda: _pdf(500), {"too_many_pages"}),
        (_flate_bomb, {"bomb"}),
        (lambda: _png_declaring(50000, 50000), {"bomb"}),
        (_huge_image, {"bomb", "too_large"}),
        (lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, {"corrupt"}),
        (lambda: b"PK\x03\x04 not a certificate", {"unsupported"}),
        (lambda: b"%PDF-1.4\n" + b"\x00" * (41 * 2**20), {"too_large"}),
    ],
    ids=[
        "empty",
        "blank",
        "encrypted",
        "corrupt",
        "truncated",
        "zero_pages",
        "500_pages",
        "flate_bomb",
        "png_50000",
        "huge_image",
        "bad_png",
        "zip",
        "too_large",
    ],
)
def test_bad_input_in_process(make, codes: set[str]) -> None:
    with pytest.raises(ExtractionError) as info:
        extract_in_process(make())
    assert info.value.code in codes, info.value.reason
    assert info.value.reason


def test_bad_input_through_sandbox() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_certificate(_flate_bomb(), timeout_s=20)
    assert info.value.code == "bomb"
    with pytest.raises(ExtractionError) as info:
        extract_certificate(_encrypted())
    assert info.value.code == "encrypted"


def test_sandbox_time_limit() -> None:
    data, _ = real_sample("acord_25_2010_05_2014_01_sample")
    with pytest.raises(ExtractionError) as info:
        extract_certificate(data, timeout_s=1)
    assert info.value.code == "timeout"


def test_sandbox_memory_limit() -> None:
    data, _ = real_sample("acord_25_2010_05_2014_01_sample")
    with pytest.raises(ExtractionError) as info:
        extract_certificate(data, memory_mb=150)
    assert info.value.code == "memory"


def test_sandbox_success_roundtrip() -> None:
    data, expected = real_sample("acord_25_2016_03_sample")
    r = extract_certificate(data, filename="x.pdf")
    assert r.is_acord25 and r.data["insured"]["name"] == expected["insured"]["name"]
    assert r.sources["insured.name"] == "text"
