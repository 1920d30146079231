"""The marker of an undeclared state code."""

from __future__ import annotations

import pytest

from twinworks.spec.codes import is_unknown_code, unknown_code


def test_the_marker_names_the_code() -> None:
    assert unknown_code(7) == "unknown(7)"
    assert unknown_code(-1) == "unknown(-1)"
    assert is_unknown_code(unknown_code(65535))


@pytest.mark.parametrize("value", ["unknown", "unknown()", "unknown(7", "Unknown(7)", 7, None])
def test_other_values_are_not_the_marker(value: object) -> None:
    assert not is_unknown_code(value)
