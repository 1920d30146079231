"""Data-driven models: a scikit-learn regressor in the model contract.

:class:`SklearnModel` maps inputs to outputs with any scikit-learn regressor (or
pipeline). It has no states, so it composes with physics models — e.g. a learned
correction of spindle power — and runs vectorised: one ``predict`` call for the
whole fleet (and every sigma point).

>>> from sklearn.linear_model import LinearRegression
>>> m = SklearnModel(LinearRegression(), inputs=("feed_pct",), outputs=("power_kw",))
>>> u = np.array([[50.0], [100.0]])
>>> _ = m.fit(u, 2.0 + 0.1 * u)
>>> m.observe(np.zeros((2, 0)), u, m.theta(2)).round(3).ravel().tolist()
[7.0, 12.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from twinworks.models.base import Array, Frame, Model, ModelContractError

__all__ = ["SklearnModel"]


class SklearnModel(Model):
    """A stateless model whose outputs are ``estimator.predict(inputs)``."""

    _dynamic = True

    def __init__(
        self,
        estimator: Any,
        *,
        inputs: Sequence[str],
        outputs: Sequence[str],
        name: str = "SklearnModel",
    ) -> None:
        for method in ("fit", "predict"):
            if not callable(getattr(estimator, method, None)):
                raise ModelContractError(
                    f"{name}: {type(estimator).__name__} has no {method}(); wrap a scikit-learn "
                    "regressor such as LinearRegression() or a Pipeline ending in one"
                )
        self.estimator = estimator
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.states = ()
        self.events = ()
        self.parameters = {}
        if not self.inputs or not self.outputs:
            raise ModelContractError(f"{name}: declare at least one input and one output")
        super().__init__()
        self.name = name

    def _smoke_test(self) -> None:
        # an unfitted regressor cannot predict yet; fit() checks the shapes instead
        if self.fitted:
            super()._smoke_test()

    @property
    def fitted(self) -> bool:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(self.estimator)
        except NotFittedError:
            return False
        return True

    def fit(self, u: Array, z: Array) -> SklearnModel:
        """Fit on inputs ``(n, n_inputs)`` and outputs ``(n, n_outputs)``."""
        u = np.asarray(u, dtype=np.float64)
        z = np.asarray(z, dtype=np.float64)
        if u.ndim != 2 or u.shape[1] != len(self.inputs):
            raise ValueError(
                f"{self.name}.fit: inputs must have shape (n, {len(self.inputs)}) for "
                f"{self.inputs}, got {u.shape}"
            )
        if z.ndim == 1:
            z = z[:, None]
        if z.shape != (u.shape[0], len(self.outputs)):
            raise ValueError(
                f"{self.name}.fit: outputs must have shape ({u.shape[0]}, {len(self.outputs)}) "
                f"for {self.outputs}, got {z.shape}"
            )
        self.estimator.fit(u, z if z.shape[1] > 1 else z[:, 0])
        super()._smoke_test()
        return self

    def next_state(self, x: Frame, u: Frame, dt: Any, p: Frame) -> Any:
        return ()

    def output(self, x: Frame, u: Frame, p: Frame) -> Any:
        if not self.fitted:
            raise ModelContractError(
                f"{self.name}: the regressor is not fitted; call .fit(inputs, outputs) first"
            )
        lead = np.broadcast_shapes(x.array.shape[:-1], u.array.shape[:-1])
        flat = np.broadcast_to(u.array, (*lead, len(self.inputs))).reshape(-1, len(self.inputs))
        predicted = np.asarray(self.estimator.predict(flat), dtype=np.float64)
        return predicted.reshape(*lead, len(self.outputs))

    def __repr__(self) -> str:
        return f"SklearnModel({self.estimator!r}, inputs={self.inputs}, outputs={self.outputs})"
