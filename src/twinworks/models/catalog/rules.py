"""Rule models: limits and expressions over signals, in the same contract as physics.

Each rule is a boolean expression over named inputs (``"vibration_mm_s > 8"``,
``"spindle_temperature_c > 60 and cutting < 0.5"``). A rule model has no states; its
outputs are 1.0 where a rule fires and 0.0 where it does not. Expressions are
parsed once, safely (no ``eval``): only numbers, names, arithmetic, comparisons,
``and``/``or``/``not`` and ``abs``/``min``/``max``/``sqrt`` are allowed, and they run
vectorised over a fleet.

>>> rules = RuleModel({"too_hot": "temperature_c > 60", "shaky": "vibration_mm_s >= 2 * 4"})
>>> rules.inputs
('temperature_c', 'vibration_mm_s')
>>> rules.observe(np.zeros((2, 0)), np.array([[70.0, 1.0], [20.0, 9.0]]), rules.theta(2))
array([[1., 0.],
       [0., 1.]])
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from twinworks.models.base import Array, Frame, Model, ModelContractError

__all__ = ["RuleModel", "compile_rule"]

_ALLOWED = "numbers, signal names, + - * / ** %, comparisons, and/or/not, abs/min/max/sqrt"

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": np.abs,
    "min": np.minimum,
    "max": np.maximum,
    "sqrt": np.sqrt,
}

Compiled = Callable[[Mapping[str, Any]], Any]


def compile_rule(name: str, text: str) -> tuple[Compiled, list[str]]:
    """Parse ``text`` into a vectorised function of named columns, and the names it reads."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ModelContractError(
            f"rule {name!r}: {text!r} is not an expression ({exc.msg}); use {_ALLOWED}"
        ) from None
    names: list[str] = []

    def build(node: ast.AST) -> Compiled:
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | bool):
            value = float(node.value)
            return lambda env: value
        if isinstance(node, ast.Name):
            if node.id in _FUNCTIONS:
                raise ModelContractError(f"rule {name!r}: {node.id} is a function; call it")
            if node.id not in names:
                names.append(node.id)
            key = node.id
            return lambda env: env[key]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            op, left, right = _BINARY[type(node.op)], build(node.left), build(node.right)
            return lambda env: op(left(env), right(env))
        if isinstance(node, ast.UnaryOp):
            inner = build(node.operand)
            if isinstance(node.op, ast.Not):
                return lambda env: np.logical_not(inner(env))
            if isinstance(node.op, ast.USub):
                return lambda env: -inner(env)
            if isinstance(node.op, ast.UAdd):
                return inner
        if isinstance(node, ast.BoolOp):
            parts = [build(v) for v in node.values]
            join = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

            def boolop(env: Mapping[str, Any]) -> Any:
                result = parts[0](env)
                for part in parts[1:]:
                    result = join(result, part(env))
                return result

            return boolop
        if isinstance(node, ast.Compare) and all(type(o) in _COMPARE for o in node.ops):
            terms = [build(node.left), *(build(c) for c in node.comparators)]
            ops = [_COMPARE[type(o)] for o in node.ops]

            def compare(env: Mapping[str, Any]) -> Any:
                values = [t(env) for t in terms]
                result = ops[0](values[0], values[1])
                for i, op in enumerate(ops[1:], start=1):
                    result = np.logical_and(result, op(values[i], values[i + 1]))
                return result

            return compare
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            fn = _FUNCTIONS[node.func.id]
            args = [build(a) for a in node.args]
            if node.func.id in ("abs", "sqrt") and len(args) != 1:
                raise ModelContractError(f"rule {name!r}: {node.func.id}() takes one argument")
            if node.func.id in ("min", "max") and len(args) != 2:
                raise ModelContractError(f"rule {name!r}: {node.func.id}() takes two arguments")
            return lambda env: fn(*(a(env) for a in args))
        shown = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
        raise ModelContractError(f"rule {name!r}: {shown!r} is not allowed; rules use {_ALLOWED}")

    return build(tree), names


class RuleModel(Model):
    """Rules over signals, one output and one event per rule (see the module docstring)."""

    _dynamic = True

    def __init__(self, rules: Mapping[str, str], *, name: str = "Rules") -> None:
        if not rules:
            raise ModelContractError(f"{name}: give at least one rule, e.g. {{'hot': 't_c > 80'}}")
        self.rules = dict(rules)
        compiled: dict[str, Compiled] = {}
        inputs: list[str] = []
        for rule, text in self.rules.items():
            if not isinstance(text, str):
                raise ModelContractError(f"{name}: rule {rule!r} must be a string expression")
            compiled[rule], used = compile_rule(rule, text)
            inputs += [n for n in used if n not in inputs]
        self._compiled = compiled
        self.inputs = tuple(sorted(inputs))
        self.states = ()
        self.outputs = tuple(self.rules)
        self.events = ()
        self.parameters = {}
        super().__init__()
        self.name = name

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
        return ()

    def fired(self, u: Frame) -> list[Array]:
        env = {n: getattr(u, n) for n in self.inputs}
        return [np.asarray(fn(env), dtype=bool) for fn in self._compiled.values()]

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        return tuple(f.astype(np.float64) for f in self.fired(u))

    def __reduce__(self) -> tuple[Any, ...]:
        # compiled rules are closures, which do not pickle: rebuild them from the text
        return (_rebuild, (self.rules, self.name))

    def __repr__(self) -> str:
        return f"RuleModel({self.rules!r})"


def _rebuild(rules: Mapping[str, str], name: str) -> RuleModel:
    return RuleModel(rules, name=name)
