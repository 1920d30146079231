"""A type's status policy: declared in the definition, checked with line-precise errors."""

from __future__ import annotations

import pytest

from twinworks.errors import SpecError
from twinworks.spec import parse_definition

GOOD = """
types:
  press:
    telemetry:
      mode: {dtype: string, values: [pressing, waiting, die_change, jammed, off]}
    status:
      signal: mode
      running: [pressing]
      idle: [waiting]
      maintenance: [die_change]
      fault: [jammed]
      stopped: ["off"]
twins: [{id: p1, type: press}]
"""


def test_a_declared_policy_maps_values_to_statuses() -> None:
    policy = parse_definition(GOOD).types["press"].status_policy()
    assert policy is not None and policy.signal == "mode"
    assert policy.statuses() == {
        "pressing": "running",
        "waiting": "idle",
        "die_change": "maintenance",
        "jammed": "fault",
        "off": "stopped",
    }


def test_without_a_policy_a_string_state_signal_names_statuses_itself() -> None:
    definition = parse_definition(
        "types: {m: {telemetry: {state: {dtype: string, values: [running, busy, fault]}}}}\n"
        "twins: [{id: m1, type: m}]"
    )
    policy = definition.types["m"].status_policy()
    assert policy is not None and policy.signal == "state"
    assert policy.statuses() == {"running": "running", "fault": "fault"}


def test_a_type_without_policy_or_state_signal_has_none() -> None:
    definition = parse_definition("types: {m: {telemetry: {t: {}}}}\ntwins: [{id: m1, type: m}]")
    assert definition.types["m"].status_policy() is None


def issues(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(SpecError) as info:
        parse_definition(text)
    return [(i.path, i.line, i.message) for i in info.value.issues]


def test_an_undeclared_signal_is_reported_on_its_line() -> None:
    found = issues(GOOD.replace("signal: mode", "signal: moed"))
    assert found == [("types.press.status.signal", 7, "no telemetry signal 'moed'")]


def test_values_must_be_values_of_the_signal_and_mean_one_status() -> None:
    text = GOOD.replace("fault: [jammed]", "fault: [jammed, pressing, exploded]")
    found = issues(text)
    assert ("types.press.status.fault[1]", 11, "'pressing' already means 'running'") in found
    assert (
        "types.press.status.fault[2]",
        11,
        "'exploded' is not a value of the 'mode' signal",
    ) in found
    assert len(found) == 2


def test_values_must_have_the_signal_dtype() -> None:
    text = """
types:
  valve:
    telemetry: {open: {dtype: bool}}
    status: {signal: open, running: [true], stopped: [closed]}
twins: [{id: v1, type: valve}]
"""
    found = issues(text)
    assert found == [("types.valve.status.stopped[0]", 5, "'closed' is not a bool")]


def test_unknown_statuses_are_refused() -> None:
    found = issues(GOOD.replace("idle: [waiting]", "napping: [waiting]"))
    assert len(found) == 1 and found[0][0] == "types.press.status.napping"
    assert found[0][1] == 9


def test_allowed_states_are_checked_against_the_policys_signal() -> None:
    text = GOOD.replace(
        "twins: [{id: p1, type: press}]",
        "    commands: {clear: {allowed_states: [jammed, broken]}}\ntwins: [{id: p1, type: press}]",
    )
    found = issues(text)
    assert found == [
        (
            "types.press.commands.clear.allowed_states",
            13,
            "'broken' is not a value of the 'mode' signal",
        )
    ]
