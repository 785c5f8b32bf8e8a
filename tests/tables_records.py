"""Hand-written result records for the table tests (never written under results/runs)."""
from __future__ import annotations

import json
from pathlib import Path

BERT_TYPES = ("W_q", "W_k", "W_v", "W_o", "W_f1", "W_f2")
BERT_MODULES = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "intermediate.dense", "output.dense")


def record(model, task, method, seed, metrics, *, label=None, sizes=None, status="ok", adapter=300_000,
           head=1_538, pretrained=183_831_552, retained=None, rank_pattern=None, layers=12, wall=600.0, epochs=3.0,
           lr=5e-4):
    params = {"trainable": adapter + head, "adapter": adapter, "head": head, "total": pretrained + adapter + head,
              "pretrained": pretrained, "trainable_share": (adapter + head) / pretrained,
              "adapter_share": adapter / pretrained}
    layout = {}
    if rank_pattern is not None:
        names = {}
        for layer in range(layers):
            for module, kind in zip(BERT_MODULES, BERT_TYPES):
                name = f"bert.encoder.layer.{layer}.{module}"
                names[(layer, kind)] = name
                layout[name] = [str(layer), kind]
        rank_pattern = {names[(layer, kind)]: rank for (layer, kind), rank in rank_pattern.items()}
        params.update(retained=retained or adapter, init_budget=6 * layers * 4,
                      target_budget=sum(rank_pattern.values()), kept_rank=sum(rank_pattern.values()))
    elif retained is not None:
        params["retained"] = retained
    slug = label.replace("%", "pct") if label else None
    return {
        "schema": 1, "task": task, "model": model, "method": method, "seed": seed, "status": status,
        "budget": {"label": label, "slug": slug, "sizes": sizes or {}, "source": "nearest" if label else "method config"},
        "params": params, "metrics": metrics, "main_metric": next(iter(metrics), None),
        "baseline": {"kind": "majority class of train"}, "rank_pattern": rank_pattern or {},
        "rank_layout": layout, "steps": 100, "epochs": epochs, "wall_time_s": wall,
        "config": {"task": {"name": task}, "method": {"name": method}, "model": {"name": model},
                   "trainer": {"learning_rate": lr}, "seed": seed, "results_dir": "somewhere"},
        "versions": {}, "git": {"commit": "0" * 40, "dirty": False},
    }


def write(runs: Path, rec: dict, slug: str | None = None) -> Path:
    slug = slug or rec["budget"]["slug"] or "fixed"
    path = runs / rec["model"] / rec["task"] / rec["method"] / slug / f"seed{rec['seed']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=2))
    return path


def minilm_sweep(runs: Path) -> None:
    """A set shaped like the committed MiniLM sweep: CoLA, SST-2, RTE; LoRA and AdaLoRA at two budgets, full
    fine-tuning, BitFit, Houlsby and Pfeiffer at the lower one; 3 seeds. Values are arbitrary but fixed."""
    metric = {"cola": "matthews_correlation", "sst2": "accuracy", "rte": "accuracy"}
    base = {"cola": 40.0, "sst2": 88.0, "rte": 60.0}
    cells = [("full", None, {}, 22_000_000), ("bitfit", None, {}, 30_000),
             ("houlsby", "0.38%", {"dim": 9}, 85_000), ("pfeiffer", "0.38%", {"dim": 18}, 84_000),
             ("lora", "0.38%", {"rank": 2}, 82_944), ("adalora", "0.38%", {"target_rank": 2, "init_rank": 4}, 124_416),
             ("lora", "1.5%", {"rank": 8}, 331_776), ("adalora", "1.5%", {"target_rank": 8, "init_rank": 12}, 373_248)]
    for t, task in enumerate(metric):
        for c, (method, label, sizes, adapter) in enumerate(cells):
            for seed in (1, 2, 3):
                value = base[task] + 0.5 * c + 0.25 * seed + 0.1 * ((seed * (c + 1) + t) % 3)
                pattern = None
                if method == "adalora":
                    r = sizes["target_rank"]
                    pattern = {(layer, kind): (r + (1 if kind in ("W_f1", "W_f2") and layer >= 3 else 0)
                                               - (1 if kind == "W_k" and layer < 3 else 0) + seed % 2)
                               for layer in range(6) for kind in BERT_TYPES}
                write(runs, record("minilm", task, method, seed, {metric[task]: value}, label=label, sizes=sizes,
                                   adapter=adapter, head=770, pretrained=22_713_216, rank_pattern=pattern, layers=6,
                                   retained=int(adapter * 0.66) if method == "adalora" else None))
