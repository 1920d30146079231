"""Readable colours: every text/background pair of the dashboard meets WCAG AA (4.5:1),
and every graphical object (chart lines, bars, edges) 3:1 against what it is drawn on."""

from __future__ import annotations

import re

import pytest

from twinworks.web.dashboard import STATIC_DIR

CSS = (STATIC_DIR / "css" / "dashboard.css").read_text()
VARS = dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", CSS))
STATUSES = sorted({m for m in re.findall(r"--st-([\w]+)-bg", CSS)})
SURFACES = ("--bg", "--surface", "--surface-2")
# every "--x-fg" with its "--x-bg": status badges, severities, model version status, …
BADGES = sorted(
    (name[:-3] + "-fg", name) for name in VARS if name.endswith("-bg") and name[:-3] + "-fg" in VARS
)
JOBS = sorted(name for name in VARS if re.fullmatch(r"--job-\d+", name))

# (text, background) pairs the stylesheet puts together
TEXT_PAIRS = (
    [
        (fg, bg)
        for fg in ("--text", "--text-muted", "--link", "--ok-fg", "--error-fg", "--focus")
        for bg in SURFACES
    ]
    + [("--error-fg", "--error-bg"), ("--warning-fg", "--warning-bg")]
    + [
        ("--text", "--primary-bg"),
        ("--text", "--primary-hover-bg"),
        ("--text", "--button-hover-bg"),
    ]
    + [("--skip-fg", "--focus")]
    # the Gantt's labels on its job bars
    + [("--gantt-text", job) for job in JOBS]
    # its axis, machine names and "now" on the chart background
    + [("--text-muted", "--bg"), ("--text", "--bg"), ("--gantt-now", "--bg")]
)
# (graphical object, what it is drawn on): WCAG 1.4.11 asks 3:1
GRAPHIC_PAIRS = (
    [(line, "--bg") for line in ("--chart-1", "--chart-2", "--chart-3", "--chart-4")]
    + [(bar, bg) for bar in ("--bar-longer", "--bar-shorter") for bg in SURFACES]
    # Gantt bars are told from the background by their edge; moved ones by theirs
    + [("--gantt-edge", "--bg"), ("--gantt-moved", "--bg"), ("--gantt-now", "--bg")]
    # buttons are told from what they stand on by their border
    + [("--button-border", bg) for bg in SURFACES]
)
# (tile and alarm edges repeat in colour what their badges say in words: not checked)


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
    assert {
        "running",
        "idle",
        "stopped",
        "alarm",
        "fault",
        "stale",
        "disconnected",
        "offline",
    } <= set(STATUSES)
    for status in STATUSES:
        fg, bg = VARS[f"--st-{status}-fg"], VARS[f"--st-{status}-bg"]
        assert contrast(fg, bg) >= 4.5, (status, fg, bg, contrast(fg, bg))


def test_every_badge_pair_is_found() -> None:
    names = {bg for _, bg in BADGES}
    assert {"--sev-critical-bg", "--sev-high-bg", "--sev-medium-bg", "--sev-low-bg"} <= names
    assert {"--ver-accepted-bg", "--ver-rejected-bg", "--ver-candidate-bg"} <= names
    assert len(JOBS) == 8  # gantt.js colours jobs with --job-0 … --job-7


@pytest.mark.parametrize(("fg", "bg"), BADGES)
def test_badges_are_readable(fg: str, bg: str) -> None:
    assert contrast(VARS[fg], VARS[bg]) >= 4.5, (fg, bg, contrast(VARS[fg], VARS[bg]))


@pytest.mark.parametrize(("fg", "bg"), TEXT_PAIRS)
def test_text_colours_are_readable(fg: str, bg: str) -> None:
    assert contrast(VARS[fg], VARS[bg]) >= 4.5, (fg, bg, contrast(VARS[fg], VARS[bg]))


@pytest.mark.parametrize(("fg", "bg"), GRAPHIC_PAIRS)
def test_graphical_objects_stand_out(fg: str, bg: str) -> None:
    assert contrast(VARS[fg], VARS[bg]) >= 3.0, (fg, bg, contrast(VARS[fg], VARS[bg]))


def test_every_colour_in_the_stylesheet_is_a_variable() -> None:
    # a colour written straight into a rule would escape the checks above
    rules = CSS[CSS.index("}", CSS.index(":root")) :]
    literals = re.findall(r"#[0-9a-fA-F]{3,6}\b", rules)
    assert literals == [], literals
