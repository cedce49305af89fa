"""The report's pictures and its one HTML page, drawn from ``Figures``: one member's
personal account over time, the pooling funds by region and year (pension solid, medical
dashed, the legend saying which), and the monthly pension a base percent buys.
"""

from __future__ import annotations

import html
from pathlib import Path

from ledger.domain.money import format_yuan
from ledger.report.figures import YEARS, Figures, support_rows, value_rows


def _yuan_axis(ax) -> None:  # type: ignore[no-untyped-def]
    ax.yaxis.set_major_formatter(lambda value, _pos: f"{value / 100:,.0f}")
    ax.grid(True, alpha=0.3)


SCHEME_STYLES = {"pension": "-", "medical": "--"}


def plot_pooling(ax, pooling_by_year: dict[str, list[tuple[int, int]]]) -> None:  # type: ignore[no-untyped-def]
    """One line per pooling account (keys ``<scheme>:<region>``): a colour per region, a
    line style per scheme (pension solid, medical dashed, any other dotted), and a legend
    whose every sample is drawn long enough to show its line's style."""
    import matplotlib.pyplot as plt

    regions = sorted({name.partition(":")[2] for name in pooling_by_year})
    colours = {r: plt.get_cmap("tab10")(i % 10) for i, r in enumerate(regions)}
    for name, points in sorted(pooling_by_year.items()):
        scheme, _, region = name.partition(":")
        ax.plot(
            [y for y, _ in points],
            [v for _, v in points],
            marker="o",
            markersize=3,
            label=f"{scheme} {region}",
            color=colours[region],
            linestyle=SCHEME_STYLES.get(scheme, ":"),
        )
    if pooling_by_year:
        ax.legend(
            fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0, handlelength=4
        )


def draw(figures: Figures, out: Path) -> list[Path]:
    """Write the PNG plots to ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out.mkdir(parents=True, exist_ok=True)
    written = []

    fig, ax = plt.subplots(figsize=(9, 4.5))
    if figures.member_balance:
        xs = [m.year + (m.month - 1) / 12 for m, _ in figures.member_balance]
        ax.plot(xs, [v for _, v in figures.member_balance], drawstyle="steps-post")
    ax.set_title(f"Personal pension account of {figures.member or '(no member)'} (yuan)")
    _yuan_axis(ax)
    written.append(out / "member_account.png")
    fig.tight_layout()
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4.8))
    plot_pooling(ax, figures.pooling_by_year)
    ax.set_title("Pooling funds by region, end of year (yuan)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _yuan_axis(ax)
    written.append(out / "pooling_by_region.png")
    fig.tight_layout()
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for percent, points in figures.pensions.items():
        ax.plot([y for y, _ in points], [v for _, v in points], marker="o", label=f"{percent}%")
    ax.set_title("Projected monthly pension by base percent, Beijing, at 60 (yuan)")
    ax.set_xlabel("contribution years")
    ax.legend(title="base")
    _yuan_axis(ax)
    written.append(out / "pensions_by_base.png")
    fig.tight_layout()
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written


def _table(title: str, header: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def write_page(figures: Figures, images: list[Path], out: Path) -> Path:
    pensions = [
        (f"{p}%", *(format_yuan(v) for _, v in points)) for p, points in figures.pensions.items()
    ]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>flexledger report</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}img{max-width:100%}</style>",
        f"<h1>flexledger report, as of {figures.as_of}</h1>",
        *(f"<img src='{p.name}' alt='{p.stem}'>" for p in images),
        _table("Ledger", ("figure", "value"), list(figures.counts.items())),
        _table(
            "Pooling funds",
            ("scheme", "region", "yuan"),
            [(s, r, format_yuan(v)) for s, r, v in figures.pooling_now],
        ),
        _table(
            "Pooling funds: money in and out by year (yuan)",
            ("scheme", "region", "year", "in", "out", "end of year"),
            [
                (
                    f.scheme,
                    f.region,
                    f.year,
                    format_yuan(f.in_fen),
                    format_yuan(f.out_fen),
                    format_yuan(f.end_fen),
                )
                for f in figures.flows
            ],
        ),
        _table(
            "Projected monthly pension (yuan)", ("base", *(f"{y} years" for y in YEARS)), pensions
        ),
        _table(
            "Pension scheme: contributors per pensioner by region and year",
            ("region", "year", "contributors", "pensioners", "contributors per pensioner"),
            [tuple(r.values()) for r in support_rows(figures)],
        ),
        _table(
            "What each base bought: pensions awarded per yuan paid",
            (
                "base",
                "members awarded",
                "paid (yuan)",
                "monthly pensions (yuan)",
                "monthly pension per 10,000 paid (yuan)",
            ),
            [tuple(r.values()) for r in value_rows(figures)],
        ),
    ]
    page = out / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
