"""Load a twin definition from YAML: parse safely, validate, and explain every problem.

Errors name the file, the line, the path inside the document (``twins[2].type``),
what was wrong and what was expected. Hostile documents (YAML "bombs" made of
nested aliases, absurd nesting, huge files) are refused before they are expanded.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from twinworks.errors import SpecError, SpecIssue
from twinworks.spec.schema import TwinDefinition
from twinworks.spec.validate import check_definition

__all__ = ["LIMITS", "load_definition", "parse_definition"]

LIMITS = {
    "max_bytes": 8 * 1024 * 1024,  # a plant of thousands of twins fits in well under this
    "max_depth": 32,
    "max_nodes": 500_000,  # counted with aliases expanded
}

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Path_ = tuple[str | int, ...]


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps the nodes, so that we can measure and locate them.

    Booleans follow YAML 1.2: only true/false. Under YAML 1.1 the states ``on``,
    ``off``, ``yes`` and ``no`` -- common in plants -- would silently become booleans.
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # PyYAML composes recursively: a few hundred nested brackets would exhaust
        # Python's stack before the depth check on the finished tree could run
        self._depth += 1
        try:
            if self._depth > LIMITS["max_depth"] + 1:
                raise _TooDeep(self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _walk(
    node: yaml.Node,
    path: Path_,
    lines: dict[Path_, int],
    depth: int,
    duplicates: list[SpecIssue],
) -> Iterator[int]:
    """Yield one unit per node, aliases expanded, record the line of every path and
    add a :class:`SpecIssue` to ``duplicates`` for every key a mapping holds twice."""
    if depth > LIMITS["max_depth"]:
        raise _Refused(path, f"nesting deeper than {LIMITS['max_depth']} levels", node)
    lines.setdefault(path, node.start_mark.line + 1)
    yield 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            # PyYAML keeps the last of two equal keys: the first one's settings would
            # vanish without a word, so a repeated key is an error naming both places
            identity = (key_node.tag, str(key))
            if identity in seen:
                duplicates.append(
                    SpecIssue(
                        _format_path((*path, key)),
                        f"key {key!r} appears twice (lines {seen[identity]} and {line})",
                        "each key once in a mapping",
                        line,
                    )
                )
            else:
                seen[identity] = line
            yield from _walk(value_node, (*path, key), lines, depth + 1, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, index), lines, depth + 1, duplicates)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes in the document with aliases expanded, counted once per distinct node.

    An alias is the same node object as its anchor, so memoising by identity counts
    a "billion laughs" bomb in a few hundred steps instead of expanding it.
    """
    known = memo.get(id(node))
    if known is not None:
        return known
    # a node that contains itself (``&a [*a]``) expands without end: count it as too big
    memo[id(node)] = LIMITS["max_nodes"] + 1
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(v, memo) for _, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(v, memo) for v in node.value)
    memo[id(node)] = size
    return size


class _Refused(Exception):
    def __init__(self, path: Path_, message: str, node: yaml.Node) -> None:
        self.path = path
        self.message = message
        self.line = node.start_mark.line + 1


def _format_path(path: typing.Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _interpolate(value: Any, path: Path_, issues: list[tuple[Path_, str, str | None]]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in strings with environment values."""
    if isinstance(value, str) and "${" in value:

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            issues.append(
                (path, f"environment variable {name} is not set", f"{name} set, or ${{{name}:-…}}")
            )
            return match.group(0)

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), issues) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), issues) for i, v in enumerate(value)]
    return value


def _line_of(lines: dict[Path_, int], path: typing.Sequence[str | int]) -> int | None:
    # pydantic adds union tags and other non-document parts to locations; drop what
    # does not resolve and keep the deepest part that does
    resolved: Path_ = ()
    for part in path:
        candidate = (*resolved, part)
        if candidate in lines:
            resolved = candidate
    return lines.get(resolved)


def _allowed_keys(loc: typing.Sequence[str | int]) -> list[str] | None:
    """The keys a mapping at ``loc`` may hold, by walking the schema models."""
    annotation: Any = TwinDefinition
    for part in loc:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            origin = typing.get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif origin is dict:
            annotation = typing.get_args(annotation)[1]
        elif origin is list:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [
                typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a
                for a in typing.get_args(annotation)
            ]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            # a tagged union (bindings by protocol): the location names the member
            tagged = [m for m in models if _tag_of(m) == part]
            if tagged:
                annotation = tagged[0]
                continue
            if len(models) != 1:
                return None
            annotation = models[0]
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        else:
            return None
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return sorted(annotation.model_fields)
    return None


def _tag_of(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("protocol")
    return field.default if field is not None else None


def _without_tags(loc: list[str | int]) -> list[str | int]:
    """Drop the union tags pydantic puts in locations (``bindings[0].mqtt.topic``)."""
    return [
        part
        for i, part in enumerate(loc)
        if not (i >= 2 and loc[i - 2] == "bindings" and isinstance(loc[i - 1], int))
    ]


def _issue_from_pydantic(err: Any, lines: dict[Path_, int]) -> SpecIssue:
    tagged_loc = list(err["loc"])
    loc = _without_tags(tagged_loc)
    kind = err["type"]
    path = _format_path(loc)
    line = _line_of(lines, loc)
    expected: str | None = None
    message = err["msg"]
    if kind == "extra_forbidden":
        key = loc[-1]
        allowed = _allowed_keys(tagged_loc[:-1])
        message = f"unknown key {key!r}"
        expected = "one of: " + ", ".join(allowed) if allowed else None
    elif kind == "missing":
        message = f"required key {loc[-1]!r} is missing"
    elif kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        message = f"unknown {ctx.get('discriminator', 'tag')} {ctx.get('tag')!r}"
        expected = f"one of: {ctx.get('expected_tags')}"
    elif kind == "string_pattern_mismatch":
        message = f"{err['input']!r} is not a valid name"
        expected = "an ASCII letter, then ASCII letters, digits, '_', '.' or '-' (at most 128)"
        if loc and loc[-1] == "endpoint":
            expected = "an OPC UA endpoint such as opc.tcp://host:4840/path"
    elif kind == "literal_error":
        expected = err.get("ctx", {}).get("expected")
        message = f"{err['input']!r} is not allowed"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        message = f"{err['input']!r}: {err['msg'][0].lower()}{err['msg'][1:]}"
    elif kind == "value_error":
        message = str(err.get("ctx", {}).get("error", err["msg"]))
    return SpecIssue(path, message, expected, line)


def parse_definition(
    text: str | bytes, source: str = "<string>", *, base_dir: str | os.PathLike[str] | None = None
) -> TwinDefinition:
    """Parse and validate a definition held in memory. Raises :class:`SpecError`."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > LIMITS["max_bytes"]:
        raise SpecError(
            source,
            [SpecIssue("", f"file is {size} bytes", f"at most {LIMITS['max_bytes']} bytes")],
        )
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters and bad encodings
        raise SpecError(source, [SpecIssue("", f"not valid YAML: {exc}")]) from None
    try:
        try:
            node = loader.get_single_node()
        except _TooDeep as deep:
            raise SpecError(
                source,
                [
                    SpecIssue(
                        "",
                        f"nesting deeper than {LIMITS['max_depth']} levels",
                        "a flatter document",
                        deep.line,
                    )
                ],
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            line = mark.line + 1 if mark is not None else None
            raise SpecError(
                source, [SpecIssue("", f"not valid YAML: {problem}", None, line)]
            ) from None
        if node is None:
            raise SpecError(source, [SpecIssue("", "the file is empty", "a twin definition")])
        lines: dict[Path_, int] = {}
        duplicates: list[SpecIssue] = []
        expanded = _expanded_size(node, {})
        try:
            for count, _ in enumerate(_walk(node, (), lines, 0, duplicates), start=1):
                if count > LIMITS["max_nodes"] or expanded > LIMITS["max_nodes"]:
                    raise SpecError(
                        source,
                        [
                            SpecIssue(
                                "",
                                f"document expands to more than {LIMITS['max_nodes']} nodes "
                                "(aliases counted expanded)",
                                "a smaller document without alias bombs",
                            )
                        ],
                    )
        except _Refused as refused:
            raise SpecError(
                source, [SpecIssue(_format_path(refused.path), refused.message, None, refused.line)]
            ) from None
        if duplicates:
            raise SpecError(source, duplicates)
        try:
            data = loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise SpecError(source, [SpecIssue("", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpecError(
            source, [SpecIssue("", f"top level is a {type(data).__name__}", "a mapping")]
        )
    env_issues: list[tuple[Path_, str, str | None]] = []
    data = _interpolate(data, (), env_issues)
    if env_issues:
        raise SpecError(
            source,
            [SpecIssue(_format_path(p), m, e, _line_of(lines, p)) for p, m, e in env_issues],
        )
    try:
        # base_dir: where model files named relative to the definition are found
        definition = TwinDefinition.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        issues = [_issue_from_pydantic(err, lines) for err in exc.errors()]
        raise SpecError(source, issues) from None
    problems = check_definition(definition)
    if problems:
        raise SpecError(
            source,
            [SpecIssue(_format_path(p), m, e, _line_of(lines, p)) for p, m, e in problems],
        )
    return definition


def load_definition(path: str | os.PathLike[str]) -> TwinDefinition:
    """Load and validate a definition file. Raises :class:`SpecError` naming the file."""
    file = Path(path)
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise SpecError(
            str(file), [SpecIssue("", f"cannot read the file: {exc.strerror}")]
        ) from None
    if size > LIMITS["max_bytes"]:
        raise SpecError(
            str(file),
            [SpecIssue("", f"file is {size} bytes", f"at most {LIMITS['max_bytes']} bytes")],
        )
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(str(file), [SpecIssue("", f"not UTF-8 text: {exc.reason}")]) from None
    return parse_definition(text, str(file), base_dir=file.resolve().parent)
