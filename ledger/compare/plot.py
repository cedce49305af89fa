"""The comparison's picture: what each way costs against the pension it buys.

One line per route (scheme, place, HR company or not, start), one point per base or
grade on it, x the total paid (discounted to today), y the monthly pension at the award.
The legend is built from the very lines drawn (same colour, style and marker), so it
always matches them.
"""

from __future__ import annotations

from pathlib import Path

from ledger.compare.ways import Comparison

STYLES = {"resident": ":", "employee": "-"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def draw(comparison: Comparison, out: Path) -> Path:
    """Write the plot to ``out`` (PNG) and return it."""
    import matplotlib.pyplot as plt

    fig = figure(comparison)
    try:
        fig.savefig(out, dpi=110)
    finally:
        plt.close(fig)
    return out


def figure(comparison: Comparison):  # type: ignore[no-untyped-def]
    """The matplotlib figure (Agg backend): one line per route, the best way ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    routes: dict[str, list] = {}
    for outcome in comparison.outcomes:
        routes.setdefault(outcome.way.route, []).append(outcome)
    fig, ax = plt.subplots(figsize=(10, 5.5))
    colours = plt.get_cmap("tab10")
    for index, (route, outcomes) in enumerate(routes.items()):
        outcomes.sort(key=lambda o: o.paid_discounted_fen)
        ax.plot(
            [o.paid_discounted_fen / 100 for o in outcomes],
            [o.pension_fen / 100 for o in outcomes],
            color=colours(index % 10),
            linestyle=STYLES[outcomes[0].way.scheme],
            marker=MARKERS[index % len(MARKERS)],
            label=route,
        )
        for o in outcomes:
            tag = (
                f"{o.way.base_percent}%"
                if o.way.base_percent is not None
                else (f"{(o.way.grade_fen or 0) // 100}")
            )
            ax.annotate(
                tag + ("" if o.eligible else " (short)"),
                (o.paid_discounted_fen / 100, o.pension_fen / 100),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
    best = comparison.best
    if best is not None:
        ax.scatter(
            [best.paid_discounted_fen / 100],
            [best.pension_fen / 100],
            s=160,
            facecolors="none",
            edgecolors="black",
            zorder=5,
            label=f"best by {comparison.by}: {best.way.label}",
        )
    ax.set_xlabel("total paid, discounted to today (yuan)")
    ax.set_ylabel("monthly pension at the award (yuan)")
    ax.set_title("What each way of paying costs and buys")
    ax.xaxis.set_major_formatter(lambda value, _pos: f"{value:,.0f}")
    ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:,.0f}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
