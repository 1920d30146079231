"""Readable colours: every text/background pair of the dashboard meets WCAG AA (4.5:1)."""

from __future__ import annotations

import re

import pytest

from twinworks.web.dashboard import STATIC_DIR

CSS = (STATIC_DIR / "css" / "dashboard.css").read_text()
VARS = dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", CSS))
STATUSES = sorted({m for m in re.findall(r"--st-([\w]+)-bg", CSS)})

# (text, background) pairs the stylesheet puts together
TEXT_PAIRS = [
    (fg, bg)
    for fg in ("--text", "--text-muted", "--link", "--ok-fg", "--error-fg", "--focus")
    for bg in ("--bg", "--surface", "--surface-2")
] + [("--error-fg", "--error-bg"), ("--warning-fg", "--warning-bg")]


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_every_status_has_a_readable_badge() -> None:
    assert {"running", "idle", "stopped", "fault", "stale", "disconnected", "offline"} <= set(
        STATUSES
    )
    for status in STATUSES:
        fg, bg = VARS[f"--st-{status}-fg"], VARS[f"--st-{status}-bg"]
        assert contrast(fg, bg) >= 4.5, (status, fg, bg, contrast(fg, bg))


@pytest.mark.parametrize(("fg", "bg"), TEXT_PAIRS)
def test_text_colours_are_readable(fg: str, bg: str) -> None:
    assert contrast(VARS[fg], VARS[bg]) >= 4.5, (fg, bg, contrast(VARS[fg], VARS[bg]))


def test_chart_lines_stand_out_from_the_chart_background() -> None:
    # lines are not text: WCAG asks 3:1 for graphical objects
    for line in ("--chart-1", "--chart-2", "--chart-3", "--chart-4"):
        assert contrast(VARS[line], VARS["--bg"]) >= 3.0, line
