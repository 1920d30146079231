"""Tool flank wear of the simulated machines: the model catalog's physics, used as the truth.

The simulator is the physical entity; its tools wear by the same extended Taylor
equation and three-phase wear curve that the product's models describe
(:mod:`twinworks.models.catalog.machining`), with each tool's hidden wear-rate
multiplier. The equations are written once, there; the plant depends on the
product, never the reverse.

>>> round(float(flank_wear_mm(1.0, 0.3)), 6)
0.3
>>> round(float(life_used_at_wear(0.3, 0.3)), 6)
1.0
"""

from __future__ import annotations

from twinworks.models.catalog.machining import flank_wear_mm, life_rate_per_s, life_used_at_wear

__all__ = ["flank_wear_mm", "life_rate_per_s", "life_used_at_wear"]
