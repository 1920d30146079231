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

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from twinworks.models.base import Array, Frame, Model, ModelContractError

__all__ = ["SklearnModel", "load_sklearn_model"]


def load_sklearn_model(
    path: str | Path,
    *,
    inputs: Sequence[str],
    outputs: Sequence[str],
    name: str | None = None,
) -> SklearnModel:
    """A :class:`SklearnModel` around a fitted estimator saved with ``joblib.dump``.

    The scikit-learn version the estimator was saved with must be the one installed:
    scikit-learn does not promise that a model pickled by another version predicts
    the same, so a mismatch is an error naming both versions (re-save the estimator
    with this version, or install the one it was saved with).
    Loading runs the file's pickled code: load only files you trust.
    """
    import joblib
    import sklearn
    from sklearn.exceptions import InconsistentVersionWarning

    file = Path(path)
    label = name or file.stem
    if not file.is_file():
        raise ModelContractError(f"{label}: no saved estimator at {file}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        try:
            estimator = joblib.load(file)
        except Exception as exc:  # joblib/pickle raise many kinds for a broken file
            raise ModelContractError(
                f"{label}: {file} is not a saved estimator ({type(exc).__name__}: {exc}); "
                "save one with joblib.dump(estimator, path)"
            ) from None
    for warning in caught:
        message = warning.message
        if isinstance(message, InconsistentVersionWarning):
            raise ModelContractError(
                f"{label}: {file} was saved with scikit-learn "
                f"{message.original_sklearn_version}, but scikit-learn "
                f"{message.current_sklearn_version} is installed; re-save it with "
                f"{sklearn.__version__} or install {message.original_sklearn_version}"
            )
    model = SklearnModel(estimator, inputs=inputs, outputs=outputs, name=name or "SklearnModel")
    if not model.fitted:
        raise ModelContractError(f"{label}: the estimator in {file} is not fitted")
    return model


load_sklearn_model.file_options = ("path",)  # type: ignore[attr-defined]


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
