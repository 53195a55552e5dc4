"""The recorder benchmark's tables: CDP task time (the headline), the cost split, and
the in-page performance.now() figures. Only formatting; bench/recorder.py measures.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

SIDES = ("ours", "rrweb")
# The third side of the CDP rows: the same page and scenario with no recorder.
BASELINE = "baseline"
ALL_SIDES = (*SIDES, BASELINE)


@dataclass
class Metric:
    """One table row: a quantity on one page, per side, one value per run (in run order)."""

    name: str
    page: str
    unit: str
    target: float | None
    values: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in ALL_SIDES})
    # CDP rows only: every Performance.getMetrics difference of the window, per side and run.
    split: dict[str, list[dict[str, float]]] = field(
        default_factory=lambda: {s: [] for s in ALL_SIDES}
    )
    # CDP rows only: False for a run whose window another process disturbed.
    clean: dict[str, list[bool]] = field(default_factory=lambda: {s: [] for s in ALL_SIDES})

    def kept(self, side: str) -> list[int]:
        """The runs a side's figures use: the undisturbed ones when they are at least
        half of all (and two or more), otherwise every run."""
        runs = range(len(self.values[side]))
        clean = [i for i in runs if i >= len(self.clean[side]) or self.clean[side][i]]
        return clean if len(clean) >= max(2, len(runs) / 2) else list(runs)


def median_range(values: list[float], fmt: Callable[[float], str]) -> str:
    if not values:
        return "-"
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def fmt_ms(v: float) -> str:
    return f"{v:.1f}" if abs(v) < 100 else f"{v:.0f}"


def fmt_task(v: float) -> str:
    return "<50" if v == 0 else f"{v:.0f}"


def fmt_kb(v: float) -> str:
    return f"{v / 1024:.1f}"


def fmt_ratio(v: float) -> str:
    return f"{v:.2f}"


def verdict(ratio: float, target: float | None) -> str:
    return "" if target is None else ("met" if ratio <= target else "NOT met")


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def costs(m: Metric) -> dict[str, dict[int, float]]:
    """Per kept run, a recorder's task time minus the baseline's median on the same row."""
    base = statistics.median(m.values[BASELINE][i] for i in m.kept(BASELINE))
    return {s: {i: m.values[s][i] - base for i in m.kept(s)} for s in SIDES}


def ratios(ours: dict[int, float], rrweb: dict[int, float]) -> tuple[float, list[float]]:
    """The ratio of the medians, and the per-run ratios (run i of each side, side by side)."""
    med = statistics.median(rrweb.values())
    ratio = statistics.median(ours.values()) / med if med > 0 else float("inf")
    per_run = [ours[i] / rrweb[i] for i in ours if i in rrweb and rrweb[i] > 0]
    return ratio, per_run


def ratio_cell(ratio: float, per_run: list[float], noisy: bool = False) -> str:
    spread = f" ({min(per_run):.2f}-{max(per_run):.2f})" if len(per_run) > 1 else ""
    return f"{'~' if noisy else ''}{ratio:.2f}{spread}"


def runs_cell(values: dict[int, float], runs: int, fmt: Callable[[float], str]) -> str:
    """median (min-max), and how many runs that is when some were left out."""
    cell = median_range(list(values.values()), fmt)
    return cell if len(values) == runs else f"{cell} [{len(values)}/{runs}]"


def noisy(m: Metric, cost: dict[str, dict[int, float]]) -> bool:
    """A recorder's median cost is within the baseline's own run-to-run spread."""
    base = [m.values[BASELINE][i] for i in m.kept(BASELINE)]
    return any(statistics.median(cost[s].values()) < max(base) - min(base) for s in SIDES)


def cdp_table(times: list[Metric], sizes: list[Metric], bundle_gzip: int) -> str:
    """The headline: CDP TaskDuration cost rows, bytes rows and the bundle row."""
    header = ("row", "page", "ours", "rrweb", "baseline", "ours/rrweb", "target", "")
    rows: list[tuple[str, ...]] = []
    for m in times:
        cost = costs(m)
        ratio, per_run = ratios(cost["ours"], cost["rrweb"])
        runs = len(m.values[BASELINE])
        base = {i: m.values[BASELINE][i] for i in m.kept(BASELINE)}
        rows.append(
            (
                f"{m.name} (ms)",
                m.page,
                runs_cell(cost["ours"], runs, fmt_ms),
                runs_cell(cost["rrweb"], runs, fmt_ms),
                runs_cell(base, runs, fmt_ms),
                ratio_cell(ratio, per_run, noisy(m, cost)),
                f"<= {m.target}x",
                verdict(ratio, m.target),
            )
        )
    for m in sizes:
        ours, rrweb = (dict(enumerate(m.values[side])) for side in SIDES)
        ratio, per_run = ratios(ours, rrweb)
        rows.append(
            (
                f"{m.name} (KB)",
                m.page,
                median_range(m.values["ours"], fmt_kb),
                median_range(m.values["rrweb"], fmt_kb),
                "-",
                ratio_cell(ratio, per_run),
                f"<= {m.target}x",
                verdict(ratio, m.target),
            )
        )
    budget = "met" if bundle_gzip <= 15 * 1024 else "NOT met"
    goal = "met" if bundle_gzip <= 12 * 1024 else "NOT met"
    rows.append(
        (
            "bundle (KB gzip)",
            "-",
            fmt_kb(bundle_gzip),
            "-",
            "-",
            "-",
            "<= 15 KB (goal 12)",
            f"{budget} (goal {goal})",
        )
    )
    return table(header, rows)


# The split of a window's cost: column → (CDP metrics added, CDP metrics subtracted).
# TaskDuration and the layout metrics are wall time on the main thread; ThreadTime is
# the main thread's CPU time, ProcessTime the whole renderer's (concurrent GC marking,
# compile and raster threads too; 10 ms ticks). ScriptDuration is left out: it misses
# microtasks, where both recorders do most of their work.
LAYOUT = ("LayoutDuration", "RecalcStyleDuration")
SPLIT: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("task", ("TaskDuration",), ()),
    # The page's own style and layout is most of a burst's baseline and most of its
    # run-to-run noise; without it the recorders' other costs stand out more clearly.
    ("task excl. layout+style", ("TaskDuration",), LAYOUT),
    ("layout+style", LAYOUT, ()),
    ("main-thread CPU", ("ThreadTime",), ()),
    ("renderer CPU", ("ProcessTime",), ()),
    # The renderers' main threads were ready to run but had no CPU (Linux schedstat).
    ("waited for CPU", ("RunQueueDelay",), ()),
)


def split_table(times: list[Metric]) -> str:
    """Median of each split over the baseline's median, per side, and the ratio."""
    header = ("row", "page", "side", *(name for name, _, _ in SPLIT))
    rows: list[tuple[str, ...]] = []

    def value(d: dict[str, float], plus: tuple[str, ...], minus: tuple[str, ...]) -> float:
        return sum(d.get(n, 0.0) for n in plus) - sum(d.get(n, 0.0) for n in minus)

    for m in times:
        costs: dict[str, list[float]] = {s: [] for s in SIDES}
        spread: list[bool] = []
        for _, plus, minus in SPLIT:
            base = [value(m.split[BASELINE][i], plus, minus) for i in m.kept(BASELINE)]
            for side in SIDES:
                mine = [value(m.split[side][i], plus, minus) for i in m.kept(side)]
                costs[side].append(statistics.median(mine) - statistics.median(base))
            spread.append(any(costs[s][-1] < max(base) - min(base) for s in SIDES))
        for side in SIDES:
            rows.append((m.name, m.page, side, *(fmt_ms(v) for v in costs[side])))
        cells = [
            ("~" if noisy else "") + (fmt_ratio(o / r) if r > 0 else "-")
            for o, r, noisy in zip(costs["ours"], costs["rrweb"], spread, strict=True)
        ]
        rows.append((m.name, m.page, "ours/rrweb", *cells))
    return table(header, rows)


def in_page_table(metrics: list[Metric]) -> str:
    """The performance.now() table: ours and rrweb, ratio of medians, target."""
    header = ("metric", "page", "ours", "rrweb", "ours/rrweb", "target", "")
    rows: list[tuple[str, ...]] = []
    for m in metrics:
        fmt = fmt_kb if m.unit == "KB" else fmt_task if m.name.startswith("longest") else fmt_ms
        ours, rr = (statistics.median(m.values[s]) for s in SIDES)
        if m.name.startswith("longest") and ours == 0:
            ratio_text = "-" if rr == 0 else f"<{50 / rr:.2f}"
            ratio = 0.0
        else:
            ratio = ours / rr if rr else float("inf")
            ratio_text = f"{ratio:.2f}"
        rows.append(
            (
                f"{m.name} ({m.unit})",
                m.page,
                median_range(m.values["ours"], fmt),
                median_range(m.values["rrweb"], fmt),
                ratio_text,
                "-" if m.target is None else f"<= {m.target}x",
                verdict(ratio, m.target),
            )
        )
    return table(header, rows)
