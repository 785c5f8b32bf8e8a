"""The paper's figures from records: metric against budget per method (Fig. 2) and AdaLoRA's final rank per
layer x matrix type (Fig. 3). PNGs are byte-stable: the Agg backend, fixed size and DPI, no metadata."""
from __future__ import annotations

import io
import math
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from .build import paper_rows  # noqa: E402
from .collect import BudgetGroup, Collection, Record  # noqa: E402
from .layouts import FIG2_METRIC, METRIC_NAMES, TASK_NAMES, Layout, method_name, model_name  # noqa: E402
from .paper import PaperValue  # noqa: E402
from .stats import summarize  # noqa: E402
from .values import adapted_params, metric_value, pretrained_params  # noqa: E402

COLORS = {"full": "#444444", "bitfit": "#8c564b", "houlsby": "#2ca02c", "pfeiffer": "#9467bd", "lora": "#1f77b4",
          "adalora": "#d62728", "prune-lora": "#17becf", "adalora-sensitivity": "#ff7f0e",
          "adalora-magnitude": "#bcbd22", "lora-regu": "#7f7f7f", "svd-lora": "#e377c2", "adalora-gamma0": "#aec7e8",
          "adalora-reactivation": "#ff9896", "adalora-lcb": "#c5b0d5", "adalora-fisher": "#98df8a", "sora": "#ff7f0e",
          "increlora": "#bcbd22", "dora": "#17becf", "pissa": "#e377c2", "rslora": "#7f7f7f", "loraplus": "#393b79"}
# The paper prints Table 1's sizes as counts; Fig. 2 plots shares, so those are divided by the paper's own
# full fine-tuning count for DeBERTaV3-base ("184M", Table 1).
PAPER_FULL_COUNT = {"deberta-v3-base": 184e6}


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


# --- Fig. 2 --------------------------------------------------------------------------------------------------
def _paper_x(value: PaperValue, layout: Layout) -> float | None:
    if value.budget.endswith("%"):
        return float(value.budget[:-1])
    text = value.params
    full = PAPER_FULL_COUNT.get(layout.paper_model)
    if full and text.endswith("M"):
        return float(text[:-1]) * 1e6 / full * 100
    return None


def _ours_points(records_by_group: dict[BudgetGroup, list[Record]], metric: str):
    points = []
    for group, recs in records_by_group.items():
        ys = summarize([v for v in (metric_value(r.data, metric) for r in recs) if v is not None])
        xs = [adapted_params(r.data) / pretrained_params(r.data) * 100 for r in recs
              if adapted_params(r.data) is not None and pretrained_params(r.data)]
        if ys is not None and xs:
            points.append((sum(xs) / len(xs), ys.mean, ys.std or 0.0, ys.n, group.label))
    return sorted(points)


def fig2(layout: Layout, model: str, found: Collection, paper: list[PaperValue],
         render: bool = True) -> tuple[bytes | None, list[Record]]:
    """Metric against budget for each of the layout's tasks that has data; the paper's own values (dashed) on
    the paper's model only. Returns the PNG (None without data; empty unless `render`) and the records drawn."""
    with_paper = model == layout.paper_model
    prows = paper_rows(layout, paper) if with_paper else {}
    panels, used = [], []
    for task in layout.tasks:
        metric = FIG2_METRIC[task]
        ours: dict[str, dict[BudgetGroup, list[Record]]] = defaultdict(dict)
        for (m, t, method, gkey), recs in found.cells.items():
            if m == model and t == task and method in layout.methods:
                ours[method][found.groups[gkey]] = recs
        theirs = defaultdict(list)
        for (method, budget), values in prows.items():
            v = values.get((task, metric))
            if v is not None and method in layout.methods:
                theirs[method].append(v)
        if ours or theirs:
            panels.append((task, metric, ours, theirs))
            used += [r for groups in ours.values() for recs in groups.values() for r in recs]
    if not panels:
        return None, []
    used = sorted(used, key=lambda r: r.path)
    if not render:
        return b"", used
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    height = 3.2 * nrows + 0.8
    # At least 9.5 in wide: the title and a six-column legend need it even over one panel.
    width = max(4.2 * ncols, 9.5)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    handles = {}
    for ax, (task, metric, ours, theirs) in zip(axes.flat, panels):
        for method in layout.methods:
            color = COLORS.get(method, "black")
            if method in theirs:
                values = theirs[method]
                if method == "full":
                    h = ax.axhline(values[0].number, color=color, ls="--", lw=1)
                else:
                    pts = sorted((_paper_x(v, layout), v.number) for v in values if _paper_x(v, layout) is not None)
                    h, = ax.plot([p[0] for p in pts], [p[1] for p in pts], ls="--", marker="o", mfc="white",
                                 color=color, lw=1)
                handles.setdefault(f"{method_name(method)} (paper)", h)
            if method in ours:
                pts = _ours_points(ours[method], metric)
                if not pts:
                    continue
                if method == "full":
                    h = ax.axhline(pts[0][1], color=color, ls="-", lw=1.5)
                else:
                    h = ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                                    color=color, marker="o", capsize=3, lw=1.5)
                handles.setdefault(f"{method_name(method)} (ours)", h)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(TASK_NAMES.get(task, task), fontsize=10)
        ax.set_xlabel("trained parameters (% of pretrained, log scale)", fontsize=8)
        ax.set_ylabel(METRIC_NAMES.get(metric, metric), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    source = "ours: mean ± std over seeds" + ("; paper: dashed, open markers" if with_paper else "")
    fig.suptitle(f"Fig. 2 layout: metric against budget — {model_name(model)} ({source})", fontsize=10,
                 y=1 - 0.1 / height)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(6, len(handles)), fontsize=8,
               frameon=False)
    # Fixed margins in inches (tight_layout would draw every figure twice); each legend row below the first
    # makes the figure 0.25 in taller.
    extra = 0.25 * max(0, math.ceil(len(handles) / 6) - 1)
    height += extra
    fig.set_size_inches(width, height)
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, bottom=(0.95 + extra) / height,
                        top=1 - 0.6 / height, wspace=0.3, hspace=0.45)
    return png_bytes(fig), used


# --- Fig. 3 --------------------------------------------------------------------------------------------------
def rank_grid(records: list[Record]) -> tuple[list[str], list[str], list[list[float | None]]]:
    """(matrix types, layers, mean kept rank [type][layer]) over records, in the model's module order."""
    types: list[str] = []
    layers: list[str] = []
    sums: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in records:
        layout = r.data["rank_layout"]
        for name, rank in r.data["rank_pattern"].items():
            layer, kind = layout[name]
            if kind not in types:
                types.append(kind)
            if layer not in layers:
                layers.append(layer)
            sums[(kind, layer)].append(rank)
    values = [[(sum(sums[(k, l)]) / len(sums[(k, l)])) if sums.get((k, l)) else None for l in layers] for k in types]
    return types, layers, values


def has_rank_pattern(record: Record) -> bool:
    pattern, layout = record.data.get("rank_pattern"), record.data.get("rank_layout")
    return bool(pattern) and isinstance(layout, dict) and all(name in layout for name in pattern)


def fig3(model: str, task: str, group: BudgetGroup, records: list[Record]) -> bytes:
    types, layers, values = rank_grid(records)
    width, height = max(6.0, 0.55 * len(layers) + 2.2), max(2.6, 0.42 * len(types) + 1.6)
    fig, ax = plt.subplots(figsize=(width, height))
    data = [[math.nan if v is None else v for v in row] for row in values]
    image = ax.imshow(data, cmap="YlOrRd", aspect="auto", vmin=0)
    peak = max((v for row in values for v in row if v is not None), default=0)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            if v is not None:
                text = f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if peak and v > 0.6 * peak else "black")
    ax.set_xticks(range(len(layers)), labels=layers, fontsize=7)
    ax.set_yticks(range(len(types)), labels=types, fontsize=8)
    ax.set_xlabel("layer", fontsize=8)
    params = records[0].data.get("params") or {}
    budget = f"; budget b(0) = {params['init_budget']}, b(T) = {params['target_budget']} triplets" \
        if "target_budget" in params and "init_budget" in params else ""
    seeds = f"seed {records[0].seed}" if len(records) == 1 else \
        f"mean over seeds {', '.join(str(r.seed) for r in records)}"
    ax.set_title(f"Fig. 3 layout: AdaLoRA's final rank per matrix — {model_name(model)}\n"
                 f"{TASK_NAMES.get(task, task)}, budget {group.label}; {seeds}{budget}", fontsize=8)
    fig.subplots_adjust(left=0.6 / width, right=1 - 0.3 / width, bottom=0.5 / height, top=1 - 0.55 / height)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02).ax.tick_params(labelsize=7)
    return png_bytes(fig)
