from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.acord25_corpus import generate

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "acord25"


@pytest.fixture(scope="session")
def corpus() -> list[Any]:
    return generate(3, seed=7)


def real_sample(name: str) -> tuple[bytes, dict[str, Any]]:
    files = sorted(SAMPLES.glob(f"{name}.*"))
    data = next(f for f in files if not f.name.endswith(".json")).read_bytes()
    expected = json.loads((SAMPLES / f"{name}.expected.json").read_text())
    return data, expected
