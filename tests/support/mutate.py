"""A bounded, seeded mutation loop for fuzzing file inputs: the same cases every run."""

from __future__ import annotations

import random
from collections.abc import Iterator

NASTY = [b"\x00", b"\xff\xfe", b'"', b",", b";", b"\r", b"\n", b"=cmd|' /C calc'!A0", b"\x1b[31m"]


def mutations(seed_input: bytes, count: int, *, seed: int = 20) -> Iterator[bytes]:
    """`count` variants of `seed_input`: bytes flipped, nasty bytes inserted, cut short,
    a slice repeated, lines shuffled."""
    rng = random.Random(seed)
    for _ in range(count):
        data = bytearray(seed_input)
        for _ in range(rng.randint(1, 4)):
            if not data:
                data = bytearray(rng.choice(NASTY))
            op = rng.randrange(5)
            at = rng.randrange(len(data))
            if op == 0:
                data[at] = rng.randrange(256)
            elif op == 1:
                data[at:at] = rng.choice(NASTY)
            elif op == 2:
                del data[at:]
            elif op == 3:
                end = min(len(data), at + rng.randint(1, 200))
                data[at:at] = data[at:end] * rng.randint(1, 5)
            else:
                lines = bytes(data).split(b"\n")
                rng.shuffle(lines)
                data = bytearray(b"\n".join(lines))
        yield bytes(data)
