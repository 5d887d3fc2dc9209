"""Load YAML data files so that validation errors name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from comms.errors import PermanentError

M = TypeVar("M", bound=BaseModel)


class DataFileError(PermanentError):
    """A data file (profile, workflow, …) is invalid: `path:line: field: message`."""

    code = "data_file"

    def __init__(self, path: str, line: int | None, field: str | None, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def _to_python(
    node: yaml.Node, path: tuple[str | int, ...], lines: dict[tuple[Any, ...], int]
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = (
                yaml.safe_load(yaml.serialize(key_node))
                if key_node.tag != "tag:yaml.org,2002:str"
                else key_node.value
            )
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def load_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML text into Python data plus a map of field path → line number."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DataFileError(
            source, line, None, f"invalid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is None:
        return None, lines
    return _to_python(node, (), lines), lines


def line_for(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest known prefix of `loc`."""
    for end in range(len(loc), -1, -1):
        found = lines.get(tuple(loc[:end]))
        if found is not None:
            return found
    return None


def validate_file(
    model: type[M], path: Path, *, text: str | None = None, context: dict[str, Any] | None = None
) -> M:
    """Read and validate one YAML file against a pydantic model (`context`: the validators')."""
    source = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFileError(source, None, None, f"cannot read: {exc}") from None
    data, lines = load_yaml_with_lines(text, source)
    if not isinstance(data, dict):
        raise DataFileError(source, 1, None, "expected a mapping at the top level")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(part for part in err["loc"] if not (isinstance(part, str) and "[" in part))
        field = ".".join(str(p) for p in loc) or None
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise DataFileError(source, line_for(lines, loc), field, err["msg"] + more) from None
