"""Hostile and random twin definitions: refused quickly with a clear SpecError, never a crash.

The bounds on time are generous (seconds, where the refusals take milliseconds): what
they catch is a limit that was removed, because an alias bomb or a deeply nested
document then takes minutes, gigabytes or the whole stack.
"""

from __future__ import annotations

import time

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from twinworks.errors import SpecError
from twinworks.spec import LIMITS, TwinDefinition, parse_definition

FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
    # no "explain" phase: it traces every line, which makes a timing meaningless
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
# the refusals take milliseconds (a bomb: under a second); without the limits they take
# hours, all memory, or the stack: the bound is loose enough for any machine
QUICK_S = 30.0


def refused(text: str | bytes) -> tuple[str, float]:
    started = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        parse_definition(text, "hostile.yaml")
    return str(caught.value), time.perf_counter() - started


def alias_bomb(width: int, depth: int) -> str:
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, depth + 1):
        refs = ", ".join(f"*a{level - 1}" for _ in range(width))
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append(f"types: {{t: {{description: *a{depth}}}}}")
    return "\n".join(lines) + "\n"


@settings(FUZZ, max_examples=25)
@given(width=st.integers(5, 12), depth=st.integers(9, 14))
def test_alias_bombs_are_refused_before_they_expand(width: int, depth: int) -> None:
    assert width**depth > LIMITS["max_nodes"]  # expanded, each is far beyond the limit
    message, took = refused(alias_bomb(width, depth))
    assert f"more than {LIMITS['max_nodes']} nodes" in message
    assert took < QUICK_S


@settings(FUZZ, max_examples=25)
@given(
    depth=st.integers(LIMITS["max_depth"] + 2, 50_000),
    style=st.sampled_from(["flow_list", "flow_map", "block_map"]),
)
def test_deep_nesting_is_refused(depth: int, style: str) -> None:
    if style == "flow_list":
        text = "types: " + "[" * depth + "]" * depth
    elif style == "flow_map":
        text = "types: " + "{a: " * depth + "1" + "}" * depth
    else:
        depth = min(depth, 2000)  # block style costs two spaces a level: stay under max_bytes
        text = "".join("  " * i + "a:\n" for i in range(depth))
    message, took = refused(text)
    assert f"nesting deeper than {LIMITS['max_depth']} levels" in message
    assert took < QUICK_S


def test_documents_that_contain_themselves_are_refused() -> None:
    for text in ("a: &a [*a]\n", "types: &t {x: *t}\n", "a: &a [1, [2, *a]]\n"):
        message, took = refused(text)
        assert "expands to more than" in message or "nesting deeper" in message
        assert took < QUICK_S


@settings(FUZZ, max_examples=5)
@given(extra=st.integers(1, 1_000_000), as_bytes=st.booleans())
def test_huge_documents_are_refused_unread(extra: int, as_bytes: bool) -> None:
    size = LIMITS["max_bytes"] + extra
    text = "# " + "x" * (size - 2)
    message, took = refused(text.encode() if as_bytes else text)
    assert f"file is {size} bytes" in message and f"at most {LIMITS['max_bytes']}" in message
    assert took < QUICK_S


@settings(FUZZ, max_examples=200)
@given(st.text(max_size=400))
def test_any_text_is_a_definition_or_a_spec_error(text: str) -> None:
    try:
        parse_definition(text, "random.yaml")
    except SpecError as exc:
        assert exc.issues and str(exc).startswith("random.yaml:")


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
keys = st.sampled_from(
    [
        "types",
        "twins",
        "connectors",
        "telemetry",
        "id",
        "type",
        "min",
        "max",
        "unit",
        "dtype",
        "values",
        "commands",
        "desired",
        "bindings",
        "relationships",
        "partOf",
        "x",
    ]
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=40,
)


@settings(FUZZ, max_examples=200)
@given(st.dictionaries(keys, documents, max_size=5))
def test_any_structure_is_a_definition_or_a_spec_error(data: dict[str, object]) -> None:
    text = yaml.safe_dump(data)
    try:
        assert isinstance(parse_definition(text, "random.yaml"), TwinDefinition)
    except SpecError as exc:
        for issue in exc.issues:
            assert issue.message  # every problem says what is wrong
