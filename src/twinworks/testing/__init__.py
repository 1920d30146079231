"""Tools for testing code built on twinworks: the model conformance kit.

>>> from twinworks.testing import check_model
>>> from twinworks.models.catalog import SpindleThermal
>>> check_model(SpindleThermal)          # an AssertionError would name the check and the fix
SpindleThermal()
"""

from __future__ import annotations

from twinworks.testing.models import CHECKS, check_model

__all__ = ["CHECKS", "check_model"]
