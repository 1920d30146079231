"""Services: what the twins compute for people -- what-if, scheduling, and more to come.

Errors of bad inputs are in :mod:`twinworks.services.errors`.
"""

__all__: list[str] = []
