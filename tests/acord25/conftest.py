from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path("/work/shared/samples/acord25")
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))


@pytest.fixture(scope="session")
def corpus() -> list[Any]:
    from acord25_corpus import generate

    return generate(3, seed=7)


def real_sample(name: str) -> tuple[bytes, dict[str, Any]]:
    files = sorted(SAMPLES.glob(f"{name}.*"))
    data = next(f for f in files if not f.name.endswith(".json")).read_bytes()
    expected = json.loads((SAMPLES / f"{name}.expected.json").read_text())
    return data, expected
