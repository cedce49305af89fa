"""The pooling-funds plot: its legend shows each line as the plot draws it.

Given pension and medical pooling funds of two regions, when the plot is drawn, then each
legend sample has its line's colour and style (pension solid, medical dashed), and every
sample is long enough to show at least two whole dash periods of its line, so a dashed
line's sample cannot read as solid (as it did with the default sample length at 7 pt).
"""

from __future__ import annotations

import matplotlib
import pytest

from ledger.report.page import plot_pooling

SERIES = {
    "pension:110000": [(2024, 100_00), (2025, 250_00)],
    "medical:110000": [(2024, 40_00), (2025, 90_00)],
    "pension:310000": [(2024, 80_00), (2025, 160_00)],
    "medical:310000": [(2024, 30_00), (2025, 70_00)],
}


@pytest.fixture
def axes():
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plot_pooling(ax, SERIES)
    fig.canvas.draw()
    yield ax
    plt.close(fig)


def test_each_legend_sample_has_its_lines_colour_and_style(axes):
    lines = {line.get_label(): line for line in axes.get_lines()}
    legend = axes.get_legend()
    samples = dict(zip([t.get_text() for t in legend.get_texts()], legend.get_lines(), strict=True))
    assert (
        set(samples)
        == set(lines)
        == {"pension 110000", "medical 110000", "pension 310000", "medical 310000"}
    )
    for label, line in lines.items():
        assert samples[label].get_linestyle() == line.get_linestyle()
        assert samples[label].get_color() == line.get_color()
    assert lines["pension 110000"].get_linestyle() == "-"
    assert lines["medical 110000"].get_linestyle() == "--"
    assert lines["pension 110000"].get_color() == lines["medical 110000"].get_color()
    assert lines["pension 110000"].get_color() != lines["pension 310000"].get_color()


def test_a_dashed_sample_is_long_enough_to_show_its_dashes(axes):
    legend = axes.get_legend()
    sample_pt = legend.handlelength * legend.prop.get_size_in_points()
    for sample in legend.get_lines():
        if sample.get_linestyle() == "--":
            _, pattern = sample._dash_pattern  # (offset, on/off lengths in points)
            period = sum(pattern)
            assert sample_pt >= 2 * period, (sample_pt, period)
