"""Cross-checks of OPC UA bindings against the twin types they feed.

Node ids themselves are parsed by the schema (see :mod:`twinworks.spec.nodeids`);
here we check what needs the type: an ``enum`` table produces names, so the
signal it feeds must be a string signal, and the names it produces must be among
the signal's declared ``values``.
"""

from __future__ import annotations

from twinworks.spec.schema import OpcUaBinding, TwinDefinition

__all__ = ["check_opcua_bindings"]

Problem = tuple[tuple[str | int, ...], str, str | None]


def check_opcua_bindings(definition: TwinDefinition) -> list[Problem]:
    problems: list[Problem] = []
    for index, twin in enumerate(definition.twins):
        ttype = definition.types.get(twin.type)
        if ttype is None:
            continue  # reported by check_definition
        for bindex, binding in enumerate(twin.bindings):
            if not isinstance(binding, OpcUaBinding):
                continue
            for signal, entry in binding.telemetry.items():
                spec = ttype.telemetry.get(signal)
                if spec is None or entry.enum is None or entry.enum is False:
                    continue
                where: tuple[str | int, ...] = (
                    "twins",
                    index,
                    "bindings",
                    bindex,
                    "telemetry",
                    signal,
                    "enum",
                )
                if spec.dtype != "string":
                    problems.append(
                        (
                            where,
                            f"enum turns codes into names, but {signal!r} is a {spec.dtype} signal",
                            "dtype: string on the signal, or enum: false to keep the codes",
                        )
                    )
                elif isinstance(entry.enum, dict) and spec.values is not None:
                    unknown = sorted(set(entry.enum.values()) - set(spec.values))
                    if unknown:
                        problems.append(
                            (
                                where,
                                f"names {unknown} are not values of the signal {signal!r}",
                                "one of: " + ", ".join(spec.values),
                            )
                        )
    return problems
