"""Checks of a type's status policy against its telemetry.

The policy names a telemetry signal and lists, per status, the values of that
signal that mean it. Each problem names its path (``types.m.status.fault[1]``),
so the loader can point at its line.
"""

from __future__ import annotations

from twinworks.spec.schema import STATUSES, TwinTypeSpec

__all__ = ["check_status_policy"]

Problem = tuple[tuple[str | int, ...], str, str | None]

_FITS = {
    "string": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def check_status_policy(ttype: TwinTypeSpec, base: tuple[str | int, ...]) -> list[Problem]:
    policy = ttype.status
    if policy is None:
        return []
    where = (*base, "status")
    signal = ttype.telemetry.get(policy.signal)
    if signal is None:
        names = sorted(ttype.telemetry)
        expected = "one of: " + ", ".join(names) if names else "a declared telemetry signal"
        return [((*where, "signal"), f"no telemetry signal {policy.signal!r}", expected)]
    problems: list[Problem] = []
    seen: dict[object, str] = {}
    for status in STATUSES:
        for i, value in enumerate(getattr(policy, status)):
            path = (*where, status, i)
            if not _FITS[signal.dtype](value):
                problems.append(
                    (path, f"{value!r} is not a {signal.dtype}", f"a value of {policy.signal}")
                )
                continue
            if signal.values is not None and value not in signal.values:
                problems.append(
                    (
                        path,
                        f"{value!r} is not a value of the {policy.signal!r} signal",
                        "one of: " + ", ".join(signal.values),
                    )
                )
            key = (type(value), value)
            if key in seen:
                problems.append(
                    (path, f"{value!r} already means {seen[key]!r}", "each value in one status")
                )
            seen.setdefault(key, status)
    return problems
