"""Grants: roles ordered, scopes as subtrees (partOf) and namespaces (patterns)."""

from __future__ import annotations

import pytest

from twinworks.security import Grant, Principal, Role, parse_grant, parse_grants

TREE = {"cnc1": ["line1", "plant"], "line1": ["plant"], "line2.m7": [], "plant": []}


def ancestors(twin: str) -> list[str]:
    return TREE.get(twin, [])


def test_roles_are_ordered_and_parsed() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.ENGINEER < Role.ADMIN
    assert parse_grant("admin") == Grant(Role.ADMIN, "*")
    assert str(parse_grant(" Operator@line1 ")) == "operator@line1"
    with pytest.raises(ValueError, match="roles are: viewer, operator, engineer, admin"):
        parse_grant("superuser@*")
    with pytest.raises(ValueError, match="invalid scope"):
        parse_grant("viewer@line 1; drop")


def test_a_twin_scope_covers_its_subtree_and_a_pattern_its_namespace() -> None:
    ann = Principal("ann", parse_grants(["operator@line1", "viewer@line2.*"]))
    assert ann.can(Role.OPERATOR, "cnc1", ancestors)  # partOf line1
    assert ann.can(Role.OPERATOR, "line1", ancestors)
    assert not ann.can(Role.VIEWER, "plant", ancestors)  # above the subtree
    assert ann.can(Role.VIEWER, "line2.m7", ancestors)
    assert not ann.can(Role.OPERATOR, "line2.m7", ancestors)
    assert ann.visible(["plant", "line1", "cnc1", "line2.m7"], ancestors) == [
        "line1",
        "cnc1",
        "line2.m7",
    ]
    assert ann.can_anywhere(Role.OPERATOR) and not ann.can_everywhere(Role.VIEWER)
    assert Principal("x", ()).describe() == "no roles"
