"""Extracted values with their confidences under dotted paths ("policies[0].limits.x")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .layout import Word
from .schema import empty_data


class Collector:
    """Holds extracted values with their confidences under dotted paths."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = empty_data()
        self.conf: dict[str, float] = {}

    def put(self, path: str, value: Any, conf: float) -> None:
        if value is None or value == "":
            return
        node: Any = self.data
        parts = path.split(".")
        for p in parts[:-1]:
            m = re.fullmatch(r"(\w+)\[(\d+)\]", p)
            if m:
                lst = node.setdefault(m.group(1), [])
                while len(lst) <= int(m.group(2)):
                    lst.append({})
                node = lst[int(m.group(2))]
            else:
                node = node.setdefault(p, {})
        node[parts[-1]] = value
        self.conf[path] = round(max(0.0, min(1.0, conf)), 3)


def word_conf(words: Sequence[Word]) -> float:
    return min((w.conf for w in words), default=0.0)
