"""The one-screen summary a person reads at the end of a run."""
from __future__ import annotations

from collections import defaultdict


def rank_table(pattern: dict[str, int], layout: dict[str, tuple[str, str]]) -> list[str]:
    """Kept rank per layer (rows) x matrix type (columns)."""
    grid: dict[str, dict[str, int]] = defaultdict(dict)
    kinds: list[str] = []
    for name, rank in pattern.items():
        layer, kind = layout[name]
        grid[layer][kind] = rank
        if kind not in kinds:
            kinds.append(kind)
    width = max(5, *(len(k) for k in kinds))
    lines = ["  layer  " + "".join(f"{k:>{width + 1}}" for k in kinds) + f"{'sum':>{width + 1}}"]
    for layer in sorted(grid, key=_layer_order):
        row = grid[layer]
        lines.append(f"  {layer:<7}" + "".join(f"{row.get(k, '-'):>{width + 1}}" for k in kinds)
                     + f"{sum(row.values()):>{width + 1}}")
    totals = [sum(grid[l].get(k, 0) for l in grid) for k in kinds]
    lines.append("  total  " + "".join(f"{t:>{width + 1}}" for t in totals) + f"{sum(totals):>{width + 1}}")
    return lines


def _layer_order(layer: str):
    stack, _, index = layer.rpartition(".")
    return (stack, int(index)) if index.isdigit() else (stack, 0)


def summary(record: dict, record_path, baseline: dict | None, layout: dict | None) -> str:
    metrics, params, budget = record["metrics"], record["params"], record["budget"]
    main = record.get("main_metric")
    kind = (record.get("baseline") or {}).get("kind", "baseline")
    lines = ["", "=" * 72,
             f" {record['task']} | {record['model']} | {record['method']} | {_budget(budget)}"
             f" | seed {record['seed']} | {record['status']}",
             "-" * 72]
    for name, value in metrics.items():
        base = baseline.get(name) if baseline else None
        mark = "  <- paper's metric" if name == main else ""
        versus = f"   (baseline {base:6.2f}, {value - base:+.2f})" if base is not None and value is not None else ""
        lines.append(f" {name:<22} {value:7.2f}{versus}{mark}")
    if baseline:
        lines.append(f" baseline: {kind}")
    lines.append(f" trainable parameters   {params['trainable']:,} = {100 * params['trainable_share']:.3f}% of "
                 f"{params['pretrained']:,} pretrained (adapter {params['adapter']:,}, head {params['head']:,})")
    if "retained" in params:
        lines.append(f" kept rank              {params['kept_rank']} of {params['init_budget']} "
                     f"(target {params['target_budget']}); retained P,Q / A,B parameters {params['retained']:,}")
    if record.get("rank_pattern") and layout:
        lines.append(" kept rank per layer x matrix type:")
        lines.extend(rank_table(record["rank_pattern"], layout))
    lines.append(f" steps {record['steps']}   wall time {record['wall_time_s']:.0f} s")
    lines.append(f" record: {record_path}")
    lines.append("=" * 72)
    return "\n".join(lines)


def _budget(budget: dict) -> str:
    if str(budget.get("source", "")).startswith("fixed"):
        return f"fixed size ({budget.get('slug')}), no budget"
    return f"budget {budget.get('label') or '-'} -> {_sizes(budget.get('sizes', {}))}"


def _sizes(sizes: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sizes.items()) or "fixed"
