"""Reading request files (scenarios, schedule requests) with errors that name the line.

Service inputs are small YAML or JSON documents validated by pydantic models;
this module parses them safely, keeps the line of every path, and turns
validation errors into :class:`ProblemIssue` lists (where, what, expected).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from twinworks.services.errors import ProblemIssue, ServiceInputError

__all__ = ["format_path", "load_document", "parse_document", "validate_model"]

M = TypeVar("M", bound=BaseModel)
MAX_BYTES = 2 * 1024 * 1024

Path_ = tuple[str | int, ...]


def format_path(path: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _lines(node: yaml.Node, path: Path_, lines: dict[Path_, int], depth: int = 0) -> None:
    if depth > 32:
        raise ValueError("nesting deeper than 32 levels")
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            name = getattr(key, "value", str(key))
            line = key.start_mark.line + 1
            # the YAML reader keeps the last of two equal keys and drops the first silently
            if (key.tag, str(name)) in seen:
                raise _DuplicateKey(
                    ProblemIssue(
                        format_path((*path, name)),
                        f"key {name!r} appears twice (lines {seen[(key.tag, str(name))]} "
                        f"and {line})",
                        "each key once in a mapping",
                        line,
                    )
                )
            seen[(key.tag, str(name))] = line
            _lines(value, (*path, name), lines, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), lines, depth + 1)


class _DuplicateKey(Exception):
    def __init__(self, issue: ProblemIssue) -> None:
        self.issue = issue


def parse_document(
    text: str, source: str, error: type[ServiceInputError]
) -> tuple[Any, dict[Path_, int]]:
    """The data of a YAML/JSON document and the line of each path in it."""
    if len(text.encode()) > MAX_BYTES:
        raise error(
            source, [ProblemIssue("", "the file is too large", f"at most {MAX_BYTES} bytes")]
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise error(
            source,
            [
                ProblemIssue(
                    "(top level)",
                    f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                    None,
                    mark.line + 1 if mark is not None else None,
                )
            ],
        ) from None
    lines: dict[Path_, int] = {}
    if node is not None:
        try:
            _lines(node, (), lines)
        except _DuplicateKey as duplicate:
            raise error(source, [duplicate.issue]) from None
        except ValueError as exc:
            raise error(
                source, [ProblemIssue("(top level)", str(exc), "a flatter document")]
            ) from None
    if not isinstance(data, dict):
        got = "nothing" if data is None else f"a {type(data).__name__}"
        raise error(source, [ProblemIssue("(top level)", f"the document is {got}", "a mapping")])
    return data, lines


def line_of(lines: dict[Path_, int], path: tuple[Any, ...] | list[Any]) -> int | None:
    resolved: Path_ = ()
    for part in path:
        if (*resolved, part) in lines:
            resolved = (*resolved, part)
        else:
            break
    return lines.get(resolved)


def validate_model(
    model: type[M],
    data: Any,
    source: str,
    error: type[ServiceInputError],
    lines: dict[Path_, int] | None = None,
) -> M:
    """``model`` from ``data``, or ``error`` listing every problem with its path and line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            kind = err["type"]
            expected = None
            message = err["msg"]
            if kind == "extra_forbidden":
                message = f"unknown key {loc[-1]!r}"
                expected = (
                    "one of: " + ", ".join(_keys(model, loc[:-1]))
                    if _keys(model, loc[:-1])
                    else None
                )
            elif kind == "missing":
                message = f"required key {loc[-1]!r} is missing"
            elif kind == "union_tag_invalid":
                ctx = err.get("ctx", {})
                message = f"unknown {ctx.get('discriminator', 'tag')} {ctx.get('tag')!r}"
                expected = f"one of: {ctx.get('expected_tags')}"
            elif kind == "value_error":
                message = str(err.get("ctx", {}).get("error", message))
            elif "input" in err and not isinstance(err["input"], dict | list):
                message = f"{err['input']!r}: {message[0].lower()}{message[1:]}"
            issues.append(
                ProblemIssue(format_path(loc), message, expected, line_of(lines or {}, loc))
            )
        raise error(source, issues) from None


def _keys(model: type[BaseModel], loc: list[Any]) -> list[str]:
    import typing

    annotation: Any = model
    for part in loc:
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation = args[0] if args else None
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            annotation = field.annotation if field else None
        else:
            # a tagged union member: its class name is the tag pydantic puts in the path
            members = [a for a in typing.get_args(annotation) if isinstance(a, type)]
            found = [
                m
                for m in members
                if issubclass(m, BaseModel)
                and getattr(m.model_fields.get("type"), "default", None) == part
            ]
            annotation = found[0] if found else None
            if annotation is None:
                return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return sorted(annotation.model_fields)
    return []


def load_document(
    path: str | os.PathLike[str], error: type[ServiceInputError]
) -> tuple[Any, dict[Path_, int]]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(
            str(file), [ProblemIssue("(file)", f"cannot read the file: {exc.strerror}")]
        ) from None
    except UnicodeDecodeError as exc:
        raise error(str(file), [ProblemIssue("(file)", f"not UTF-8 text: {exc.reason}")]) from None
    return parse_document(text, str(file), error)
