"""The CPU reproduction's findings: each claim of the paper that MiniLM on CPU can test, with its verdict.

    python -m runners.tables.findings      # (part of `make tables`) writes results/tables/minilm/claims.md and the
                                           # claim table between the markers of results/README.md

Every claim is a set of paired comparisons (A against B on one task, paired by seed; or, for Fig. 3, AdaLoRA's
rank shares against a uniform allocation's), computed from the records by runners/tables/stats.py: the mean
difference with its bootstrap 95% CI, the paired t-test and Wilcoxon p, the t-test's p Holm-adjusted over the
source's family (every comparison of Table 1, of Table 4, ...), and the difference five seeds detect with 80% power.

A comparison's verdict: **confirmed** where A − B > 0 with Holm p < 0.05, **refuted** where A − B < 0 with Holm
p < 0.05, **not confirmed** otherwise; **pending** until both cells have the reported seeds and every comparison of
the family has its records (the Holm adjustment depends on the whole family); **not testable here** on a task where
full fine-tuning or LoRA does not beat the majority class. A claim's verdict on a task sums up its comparisons.
Nothing here is typed by hand: the plan (how many runs) comes from the sweep configs, every number from records.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from omegaconf import OmegaConf

from ..records import read_record
from .collect import Collection, Record, budget_group, collect
from .layouts import TASK_NAMES, method_name
from .stats import Paired, holm, one_sample, paired, summarize
from .values import metric_value

MODEL = "minilm"
SEEDS = (1, 2, 3, 4, 5)
ALPHA = 0.05
CPU_CONF = Path(__file__).resolve().parents[2] / "conf" / "experiment" / "cpu"
SWEEPS = ("table1", "table4", "table5", "fig2")          # conf/experiment/cpu/<name>.yaml: the reported runs
MAIN_METRIC = {"sst2": "accuracy", "cola": "matthews_correlation", "rte": "accuracy"}
FEED_FORWARD = ("W_f1", "W_f2")
DROPPED = "not run here (dropped for compute)"
START = "<!-- claims:start (written by `make tables`: runners/tables/findings.py; do not edit) -->"
END = "<!-- claims:end -->"


@dataclass(frozen=True)
class Arm:
    method: str
    budget: str | None = None       # a budget label; None for full fine-tuning and BitFit

    @property
    def name(self) -> str:
        return method_name(self.method) + (f" {self.budget}" if self.budget else "")


@dataclass(frozen=True)
class Claim:
    key: str
    family: str                     # the source; Holm runs over each family's comparisons
    statement: str
    pairs: tuple = ()               # ((A, B), ...): A − B > 0 is the paper's direction
    kind: str = "paired"            # "paired" | "gap-trend" (Fig. 2) | "share" (Fig. 3)


def _a(budget):
    return Arm("adalora", budget)


CLAIMS = (
    Claim("t1-lora", "Table 1", "AdaLoRA beats LoRA at the same final budget (r̄ = 2 and 8)",
          ((_a("83k"), Arm("lora", "83k")), (_a("332k"), Arm("lora", "332k")))),
    Claim("t1-lora-start", "Table 1", "AdaLoRA beats LoRA holding AdaLoRA's starting rank (the parameters AdaLoRA "
          "trains during the run; issue 14's second reading of 'equal budget')",
          ((_a("83k"), Arm("lora", "166k")), (_a("332k"), Arm("lora", "498k")))),
    Claim("t1-adapters", "Table 1", "AdaLoRA beats the Houlsby and Pfeiffer adapters at the low budget",
          ((_a("83k"), Arm("houlsby", "83k")), (_a("83k"), Arm("pfeiffer", "83k")))),
    Claim("t1-full", "Table 1", "AdaLoRA beats full fine-tuning and BitFit (the paper's averages)",
          ((_a("83k"), Arm("full")), (_a("83k"), Arm("bitfit")))),
    Claim("t4-prune", "Table 4", "AdaLoRA beats Prune-LoRA (pruning LoRA doublets with the same scores)",
          tuple((_a(b), Arm("prune-lora", b)) for b in ("41k", "83k", "332k"))),
    Claim("t4-sensitivity", "Table 4", "AdaLoRA's score beats sensitivity alone, s(·) = I(·)",
          tuple((_a(b), Arm("adalora-sensitivity", b)) for b in ("41k", "83k", "332k"))),
    Claim("t4-magnitude", "Table 4", "AdaLoRA's score beats the singular-value magnitude, S = |λ|",
          tuple((_a(b), Arm("adalora-magnitude", b)) for b in ("41k", "83k", "332k"))),
    Claim("t5-allocation", "Table 5", "Allocation helps: AdaLoRA beats SVD-LoRA (same form, no pruning)",
          tuple((_a(b), Arm("svd-lora", b)) for b in ("83k", "332k"))),
    Claim("t5-regulariser", "Table 5", "The orthogonal regulariser helps: AdaLoRA beats AdaLoRA γ = 0",
          tuple((_a(b), Arm("adalora-gamma0", b)) for b in ("83k", "332k"))),
    Claim("t5-svd", "Table 5", "The SVD form helps: SVD-LoRA beats LoRA_regu",
          tuple((Arm("svd-lora", b), Arm("lora-regu", b)) for b in ("83k", "332k"))),
    Claim("f2-every", "Fig. 2", "AdaLoRA beats LoRA at every budget (r̄ = 1, 2, 4, 8, 16)",
          tuple((_a(b), Arm("lora", b)) for b in ("41k", "83k", "166k", "332k", "664k"))),
    Claim("f2-trend", "Fig. 2", "AdaLoRA's gap over LoRA is larger at the lowest budget than at the highest "
          "(gap at r̄ = 1 − gap at r̄ = 16)", ((_a("41k"), Arm("lora", "41k"), _a("664k"), Arm("lora", "664k")),),
          kind="gap-trend"),
    Claim("f3-ffn", "Fig. 3", "AdaLoRA gives the feed-forward matrices (W_f1, W_f2) more than a uniform share of the "
          "kept rank (33.3%)", (), kind="share"),
    Claim("f3-upper", "Fig. 3", "AdaLoRA gives the upper half of the layers more than half of the kept rank", (),
          kind="share"),
)

# Beyond the paper (issues 17 and 18): questions the paper leaves open, asked the same way. An option of AdaLoRA is
# the A side (does it help AdaLoRA?); a method published since the paper is the B side (does AdaLoRA still beat
# it?), so "confirmed" keeps the direction of the statement.
BEYOND_CLAIMS = (
    Claim("b-reactivation", "Issue 17", "Letting a masked triplet return (reactivation) beats AdaLoRA's permanent "
          "mask at the low budgets (r̄ = 1, 2)", tuple((Arm("adalora-reactivation", b), _a(b)) for b in ("41k", "83k"))),
    Claim("b-lcb", "Issue 17", "Ranking triplets by a lower confidence bound (mean − κ·uncertainty) beats AdaLoRA's "
          "product score", tuple((Arm("adalora-lcb", b), _a(b)) for b in ("41k", "83k"))),
    Claim("b-fisher", "Issue 17", "The empirical Fisher (w·g)² beats AdaLoRA's sensitivity |w·g|",
          tuple((Arm("adalora-fisher", b), _a(b)) for b in ("41k", "83k"))),
) + tuple(
    Claim(f"s-{m}", "Issue 18", f"AdaLoRA beats {method_name(m)} at the same budget (r̄ = 2, 8)",
          tuple((_a(b), Arm(m, b)) for b in ("83k", "332k")))
    for m in ("sora", "increlora", "dora", "pissa", "rslora", "loraplus"))


@dataclass(frozen=True)
class Study:
    """One claim table: its claims, the sweeps whose runs it reads, the selection grid, where it is written."""
    key: str
    title: str
    claims: tuple[Claim, ...]
    sweeps: tuple[str, ...]          # conf/experiment/cpu/<name>.yaml: the reported runs
    grid: str                        # conf/experiment/cpu/<grid>.yaml: the selection runs (seed 0)
    file: str                        # results/tables/minilm/<file>
    start: str
    end: str

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.family for c in self.claims))


PAPER = Study("paper", "The paper's claims at CPU scale", CLAIMS, SWEEPS, "lr_grid", "claims.md", START, END)
BEYOND = Study("beyond", "Beyond the paper at CPU scale: AdaLoRA's options (issue 17) and its successors (issue 18)",
               BEYOND_CLAIMS, ("beyond", "successors"), "lr_grid_beyond", "beyond.md",
               "<!-- beyond:start (written by `make tables`: runners/tables/findings.py; do not edit) -->",
               "<!-- beyond:end -->")
STUDIES = (PAPER, BEYOND)
SHARE_BUDGETS = ("41k", "83k", "166k", "332k", "664k")


# --- what is planned ---------------------------------------------------------------------------------------------
def planned_runs(conf: Path = CPU_CONF, sweeps: tuple[str, ...] = SWEEPS) -> set[tuple[str, str, str | None, int]]:
    """(task, method, budget label or None, seed) of every reported run the given CPU sweeps make."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra_plugins.adalora_sweeper.grid_sweeper import expand

    runs = set()
    for name in sweeps:
        path = conf / f"{name}.yaml"
        if not path.is_file():
            continue
        sweeper = OmegaConf.load(path).hydra.sweeper
        for job in expand(sweeper.params, sweeper.grids, [], OverridesParser.create()):
            kv = dict(item.split("=", 1) for item in job)
            budget = kv.get("budget") if kv["method"] not in ("full", "bitfit") else None
            runs.add((kv["task"], kv["method"], budget, int(kv["seed"])))
    return runs


# --- reading the records -------------------------------------------------------------------------------------------
def protocol_settings(conf: Path = CPU_CONF) -> dict[str, dict]:
    """task -> the settings a record of the current protocol ran with (steps, data folder, sequence length)."""
    tasks = OmegaConf.load(conf / "protocol.yaml").cpu_tasks
    return {task: {"trainer.max_steps": int(cfg.max_steps), "task.data_dir": str(cfg.data_dir),
                   "task.max_seq_length": int(cfg.max_seq_length)} for task, cfg in tasks.items()}


def dropped_tasks(conf: Path = CPU_CONF) -> dict[str, str]:
    """task -> why the CPU protocol leaves it out (protocol.yaml: cpu_tasks.<task>.dropped)."""
    tasks = OmegaConf.load(conf / "protocol.yaml").cpu_tasks
    return {task: " ".join(str(cfg.dropped).split()) for task, cfg in tasks.items() if cfg.get("dropped")}


def _setting(record: Record, dotted: str):
    node = record.data.get("config") or {}
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


@dataclass
class Data:
    found: Collection
    model: str = MODEL
    protocol: dict | None = None    # task -> settings; records that ran other settings (issue 9's) are left out

    def current(self, record: Record) -> bool:
        want = (self.protocol or {}).get(record.task)
        return want is None or all(_setting(record, k) == v for k, v in want.items())

    def cell(self, task: str, arm: Arm) -> list[Record]:
        key = budget_group({"label": arm.budget}).key if arm.budget else ("none", "")
        return [r for r in self.found.cells.get((self.model, task, arm.method, key), [])
                if r.seed in SEEDS and self.current(r)]

    def scores(self, task: str, arm: Arm) -> dict[int, float]:
        out = {}
        for r in self.cell(task, arm):
            v = metric_value(r.data, MAIN_METRIC.get(task, r.data.get("main_metric", "")))
            if v is not None:
                out[r.seed] = v
        return out

    def baseline(self, task: str) -> float | None:
        for r in self.found.records:
            if r.model == self.model and r.task == task and self.current(r):
                v = (r.data.get("baseline") or {}).get(MAIN_METRIC.get(task, ""))
                if isinstance(v, (int, float)):
                    return float(v)
        return None

    def tasks(self) -> list[str]:
        return sorted({r.task for r in self.found.records if r.model == self.model and r.seed in SEEDS
                       and self.current(r)},
                      key=lambda t: tuple(MAIN_METRIC).index(t) if t in MAIN_METRIC else 99)


def beats_majority(record: Record) -> bool:
    """The run scored above its task's majority class on dev (the record's baseline); MCC's majority is 0."""
    metric = MAIN_METRIC.get(record.task, record.data.get("main_metric", ""))
    value, base = metric_value(record.data, metric), (record.data.get("baseline") or {}).get(metric)
    return value is not None and isinstance(base, (int, float)) and value > base


def below_majority(record: Record) -> bool:
    """The run scored at or below its task's majority class, where the record knows that baseline (records
    without one, e.g. SQuAD's, are never counted as below it)."""
    metric = MAIN_METRIC.get(record.task, record.data.get("main_metric", ""))
    if not isinstance((record.data.get("baseline") or {}).get(metric), (int, float)):
        return False
    return not beats_majority(record)


def learns(data: Data, task: str) -> tuple[bool | None, str]:
    """Whether the task carries a signal here: full fine-tuning and LoRA (83k) beat the majority class in every
    reported seed (None while either has no record yet), with the evidence as text."""
    parts, verdict = [], True
    base = data.baseline(task)
    for arm in (Arm("full"), Arm("lora", "83k")):
        recs = data.cell(task, arm)
        if not recs:
            return None, f"{arm.name}: no record yet"
        above = sum(beats_majority(r) for r in recs)
        s = summarize([metric_value(r.data, MAIN_METRIC[task]) for r in recs])
        parts.append(f"{arm.name} {s.mean:.2f} ({above} of {len(recs)} seeds above the majority class)")
        verdict = verdict and above == len(recs)
    return verdict, f"majority class {base:.2f}; " + "; ".join(parts) if base is not None else "; ".join(parts)


def plan_key(r: Record) -> tuple:
    """A record's place in the sweep plan (planned_runs): full fine-tuning and BitFit have no budget label."""
    return (r.task, r.method, None if r.method in ("full", "bitfit") else r.label, r.seed)


def collapsed(data: Data, task: str, plan: set) -> tuple[float, list[Record]] | None:
    """The study's reported runs of `task` that ended less than halfway from the majority class to full fine-tuning's
    mean, with that threshold (None before both are known). They stay in every statistic as they are; the line only
    says where a paired difference's wide interval comes from (a seed that collapsed, typically at a selected rate
    near the method's stability edge)."""
    base, full = data.baseline(task), data.scores(task, Arm("full"))
    if base is None or not full:
        return None
    line = base + (statistics.fmean(full.values()) - base) / 2
    metric = MAIN_METRIC[task]
    runs = [r for r in data.found.records if r.model == data.model and r.task == task and data.current(r)
            and plan_key(r) in plan and (metric_value(r.data, metric) or 0.0) < line]
    return line, sorted(runs, key=lambda r: (r.method, r.group.sort_key, r.seed))


# --- the comparisons -------------------------------------------------------------------------------------------------
@dataclass
class Result:
    claim: Claim
    task: str
    label: str                      # what is compared, e.g. "AdaLoRA 83k − LoRA 83k"
    test: Paired | None
    runs_done: int
    runs_planned: int
    verdict: str = "pending"


def _gap_trend(data: Data, task: str, arms) -> Paired | None:
    a1, b1, a2, b2 = (data.scores(task, arm) for arm in arms)
    seeds = sorted(set(a1) & set(b1) & set(a2) & set(b2))
    if len(seeds) < 3:
        return None
    return one_sample([(a1[s] - b1[s]) - (a2[s] - b2[s]) for s in seeds], seeds)


def _shares(record: Record) -> tuple[float, float] | None:
    layout, pattern = record.data.get("rank_layout") or {}, record.data.get("rank_pattern") or {}
    total = sum(pattern.values())
    if not total or not all(name in layout for name in pattern):
        return None
    layers = list(dict.fromkeys(layout[name][0] for name in pattern))
    upper = set(layers[len(layers) // 2:])
    ffn = sum(rank for name, rank in pattern.items() if layout[name][1] in FEED_FORWARD)
    top = sum(rank for name, rank in pattern.items() if layout[name][0] in upper)
    return 100.0 * ffn / total, 100.0 * top / total


def _runs(data: Data, task: str, arms) -> tuple[int, int]:
    cells = dict.fromkeys(arms)
    done = sum(len({r.seed for r in data.cell(task, arm)}) for arm in cells)
    return done, len(cells) * len(SEEDS)


def _planned(plan: set | None, task: str, arms) -> bool:
    """Whether the sweeps run any of these cells on the task (None: no plan given, everything counts)."""
    if plan is None:
        return True
    cells = {(t, m, b) for t, m, b, _ in plan}
    return any((task, a.method, a.budget) in cells for a in arms)


def results(data: Data, tasks: list[str], plan: set | None = None, claims: tuple[Claim, ...] = CLAIMS) -> list[Result]:
    out = []
    for claim in claims:
        for task in tasks:
            arms = [a for pair in claim.pairs for a in pair] or [_a(b) for b in SHARE_BUDGETS]
            if not _planned(plan, task, [a for a in arms if a.method != "adalora" or claim.kind == "share"]
                            or arms):
                out.append(Result(claim, task, "not in the sweeps (dropped for compute: conf/experiment/cpu/"
                                  "protocol.yaml)", None, 0, 0, verdict=DROPPED))
                continue
            if claim.kind == "paired":
                for a, b in claim.pairs:
                    test = paired(data.scores(task, a), data.scores(task, b))
                    out.append(Result(claim, task, f"{a.name} − {b.name}", test, *_runs(data, task, (a, b))))
            elif claim.kind == "gap-trend":
                for arms in claim.pairs:
                    label = f"({arms[0].name} − {arms[1].name}) − ({arms[2].name} − {arms[3].name})"
                    out.append(Result(claim, task, label, _gap_trend(data, task, arms), *_runs(data, task, arms)))
            else:
                which, null = (0, 100 / 3) if claim.key == "f3-ffn" else (1, 50.0)
                for budget in SHARE_BUDGETS:
                    recs = data.cell(task, _a(budget))
                    kept = [(r.seed, s[which]) for r in recs if beats_majority(r) for s in [_shares(r)] if s]
                    test = one_sample([v for _, v in kept], [s for s, _ in kept], null=null) if len(kept) >= 3 else None
                    label = f"AdaLoRA {budget}: {'feed-forward' if which == 0 else 'upper-half'} share − " \
                            f"{null:.1f}% (runs above the majority class: {len(kept)} of {len(recs)})"
                    out.append(Result(claim, task, label, test, len(recs), len(SEEDS)))
    return out


def judge(found: list[Result], informative: dict[str, bool | None]) -> list[Result]:
    """Holm over each family's tests, then each comparison's verdict. A family's tests are those of every task not
    ruled out (a task still undecided counts: its comparisons will join the family), so a verdict is final only
    once the whole family has its five seeds on every task that learns."""
    for family in dict.fromkeys(r.claim.family for r in found):
        mine = [r for r in found if r.claim.family == family and informative.get(r.task) is not False
                and r.verdict != DROPPED]
        adjusted = holm([r.test.p_t if r.test is not None else None for r in mine])
        complete = all(r.test is not None and r.test.n == len(SEEDS) and informative.get(r.task) for r in mine)
        for r, q in zip(mine, adjusted):
            if r.test is not None:
                r.test = replace(r.test, p_holm=q)
            if not complete:
                r.verdict = "pending"
            elif r.test.p_holm is not None and r.test.p_holm < ALPHA:
                r.verdict = "confirmed" if r.test.mean_diff > 0 else "refuted"
            else:
                r.verdict = "not confirmed"
    for r in found:
        if informative.get(r.task) is False and r.verdict != DROPPED:
            r.verdict = "not testable here"
    return found


def summary_verdict(rows: list[Result]) -> str:
    verdicts = [r.verdict for r in rows]
    if DROPPED in verdicts:
        return DROPPED
    if any(v == "not testable here" for v in verdicts):
        return "not testable here"
    if any(v == "pending" for v in verdicts):
        done, planned = sum(r.runs_done for r in rows), sum(r.runs_planned for r in rows)
        if done >= planned:
            return f"pending (its {planned} runs are done; the rest of the {rows[0].claim.family} family is not)"
        return f"pending ({done} of {planned} runs of its cells done)"
    n, yes, no = len(verdicts), verdicts.count("confirmed"), verdicts.count("refuted")
    if yes == n:
        return "confirmed"
    if no == n:
        return "refuted"
    if yes or no:
        return f"partly: {yes} of {n} confirmed, {no} refuted"
    return "not confirmed"


# --- text ------------------------------------------------------------------------------------------------------------
def _fmt(x: float | None, spec: str = "+.2f") -> str:
    return "—" if x is None else format(x, spec)


def _p(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def _short(label: str) -> str:
    return re.sub(r" \(runs above.*\)$", "", label)


def claim_table(found: list[Result], tasks: list[str]) -> list[str]:
    lines = ["| Source | Claim | Task | Verdict | Effect, mean [95% CI] per comparison | Holm p |",
             "|---|---|---|---|---|---|"]
    for claim in dict.fromkeys(r.claim for r in found):
        for task in tasks:
            rows = [r for r in found if r.claim is claim and r.task == task]
            effects = "; ".join(f"{_short(r.label)}: {_fmt(r.test.mean_diff)} [{_fmt(r.test.ci[0])}, "
                                f"{_fmt(r.test.ci[1])}] (n {r.test.n})" if r.test else f"{_short(r.label)}: —"
                                for r in rows)
            ps = "; ".join(_p(r.test.p_holm if r.test else None) for r in rows)
            cells = [claim.family, claim.statement, TASK_NAMES.get(task, task), summary_verdict(rows), effects, ps]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def detail(found: list[Result], tasks: list[str]) -> list[str]:
    lines = []
    for family in dict.fromkeys(r.claim.family for r in found):
        lines += ["", f"## {family}", "",
                  "| Claim | Task | Comparison | Seeds | Mean difference | 95% CI | t | p | p Wilcoxon | p Holm | "
                  "Detectable (80% power) | Verdict |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in found:
            if r.claim.family != family:
                continue
            t = r.test
            cells = [r.claim.key, TASK_NAMES.get(r.task, r.task), r.label]
            if t is None:
                cells += [f"{r.runs_done} of {r.runs_planned} runs", "—", "—", "—", "—", "—", "—", "—"]
            else:
                cells += [", ".join(map(str, t.seeds)), _fmt(t.mean_diff), f"[{_fmt(t.ci[0])}, {_fmt(t.ci[1])}]",
                          _fmt(t.t, ".2f"), _p(t.p_t), _p(t.p_wilcoxon), _p(t.p_holm), _fmt(t.detectable, ".2f")]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells + [r.verdict]) + " |")
    return lines


@dataclass
class Findings:
    tasks: list[str]
    informative: dict[str, bool | None]
    evidence: dict[str, str]
    found: list[Result]
    runs_done: int
    runs_planned: int
    selection_done: int = 0
    selection_planned: int = 0
    pilots: list[str] = field(default_factory=list)
    study: Study = PAPER
    collapsed: dict[str, str] = field(default_factory=dict)   # task -> the runs that collapsed, as text
    dropped: dict[str, str] = field(default_factory=dict)     # task -> why no sweep runs it (protocol.yaml)


def build(runs: Path, lr_search: Path | None = None, pilots: Path | None = None, conf: Path = CPU_CONF,
          study: Study = PAPER) -> Findings:
    data = Data(collect(runs), protocol=protocol_settings(conf))
    plan = planned_runs(conf, study.sweeps)
    # a task the protocol drops is listed with its reason and kept out of the claims, unless a sweep runs it after all
    dropped = {t: why for t, why in dropped_tasks(conf).items() if t in MAIN_METRIC and all(p[0] != t for p in plan)}
    tasks = sorted({t for t, *_ in plan} | set(data.tasks()) | set(dropped), key=lambda t: tuple(MAIN_METRIC).index(t))
    informative, evidence, collapsed_text = {}, {}, {}
    for task in tasks:
        if task in dropped:
            informative[task], evidence[task] = None, dropped[task]
            continue
        informative[task], evidence[task] = learns(data, task)
        low = collapsed(data, task, plan) if task in MAIN_METRIC else None
        if low is not None:
            line, runs_low = low
            metric = MAIN_METRIC[task]
            names = ", ".join(f"{method_name(r.method)}{' ' + r.label if r.label else ''} seed {r.seed} "
                              f"({metric_value(r.data, metric):.2f})" for r in runs_low)
            where = f"below {line:.2f}, halfway from the majority class to full fine-tuning's mean"
            many = len(runs_low) > 1
            collapsed_text[task] = (f"{len(runs_low)} reported run{'s' if many else ''} of this study "
                                    f"ended {where}: {names}. {'They count' if many else 'It counts'} in every "
                                    f"statistic as {'they are' if many else 'it is'}; a collapsed "
                                    f"seed is what widens an interval to several points" if runs_low else
                                    f"no reported run of this study has ended {where}")
    present = {plan_key(r) for r in data.found.records if r.model == MODEL and data.current(r)}
    done = len(plan & present)
    sel_done = sel_planned = 0
    if lr_search is not None:
        from runners.lr_search import planned_rates
        rates = planned_rates(conf / f"{study.grid}.yaml")
        sel_planned = sum(len(v) for v in rates.values())
        if lr_search.is_dir():           # every grid record counts, ok or failed (collect() would merge the rates)
            seen = set()
            for path in lr_search.glob(f"lr*/{MODEL}/*/*/*/seed0.json"):
                rec = read_record(path)
                if rec is None or rec.get("status") not in ("ok", "failed"):
                    continue
                probe = Record(path.name, rec, budget_group(rec.get("budget")))
                if data.current(probe):
                    seen.add((rec["task"], rec["method"], float(rec["config"]["trainer"]["learning_rate"])))
            sel_done = sum(1 for (t, m), lrs in rates.items() for lr in lrs if (t, m, lr) in seen)
    pilot_lines = []
    if pilots is not None and pilots.is_dir():
        for r in collect(pilots).records:
            metric = MAIN_METRIC.get(r.task, r.data.get("main_metric", ""))
            base = (r.data.get("baseline") or {}).get(metric)
            batch = r.data.get("batch")
            batch = batch.get("global") if isinstance(batch, dict) else batch
            lr = _setting(r, "trainer.learning_rate")
            pilot_lines.append(f"`{r.path}`: {method_name(r.method)} on {TASK_NAMES.get(r.task, r.task)}, "
                               f"{r.data.get('steps')} steps at batch {batch}, lr {lr:g}: {metric} "
                               f"{_fmt(metric_value(r.data, metric), '.2f')} (majority class {_fmt(base, '.2f')})")
    claimed = [t for t in tasks if t in MAIN_METRIC and t not in dropped]
    found = judge(results(data, claimed, plan, study.claims), informative)
    return Findings(tasks, informative, evidence, found, done, len(plan), sel_done, sel_planned, pilot_lines, study,
                    collapsed_text, dropped)


def readme_section(f: Findings) -> str:
    study = f.study
    lines = [study.start, "",
             f"Reported runs: **{f.runs_done} of {f.runs_planned}** planned runs done"
             f" (seeds 1–5 of conf/experiment/cpu/{', '.join(study.sweeps)}); selection runs: {f.selection_done} of "
             f"{f.selection_planned} (seed 0, conf/experiment/cpu/{study.grid}). A verdict stays *pending* until every "
             f"comparison of its family has all five seeds; the numbers beside a pending verdict are provisional.", ""]
    for task in f.tasks:
        if task in f.dropped:
            lines.append(f"- {TASK_NAMES.get(task, task)}: {f.dropped[task]}; left out of the claims")
            continue
        state = {True: "learns", False: "does not learn here: left out of the claims", None: "not decided yet"}
        lines.append(f"- {TASK_NAMES.get(task, task)}: {state[f.informative.get(task)]} ({f.evidence.get(task, '')})")
        if task in f.collapsed:
            lines.append(f"  - {f.collapsed[task][0].upper()}{f.collapsed[task][1:]}.")
    if f.pilots:
        lines += ["", "Run-length pilots (seed 0, `results/pilots/`):", ""] + [f"- {p}" for p in f.pilots]
    lines += [""] + claim_table(f.found, [t for t in f.tasks if t in MAIN_METRIC and t not in f.dropped])
    lines += ["", "Effects in points of the task's metric (accuracy or MCC × 100; Fig. 3: percentage points of the "
              "kept rank); Holm p over each source's comparisons (its family) of the paired t-test; every comparison, "
              f"with t, Wilcoxon p and the detectable difference, is in `tables/minilm/{study.file}`.", "", study.end]
    return "\n".join(lines)


def learning_rank_cells(data: Data) -> list[tuple[str, object, list[Record]]]:
    """(task, budget group, records) of every AdaLoRA cell of the current protocol, keeping only the runs that beat
    the majority class and carry a rank pattern (Fig. 3 from runs that learnt something)."""
    from .figures import has_rank_pattern
    cells = []
    for (model, task, method, gkey), recs in data.found.cells.items():
        if model != data.model or method != "adalora":
            continue
        kept = [r for r in recs if r.seed in SEEDS and data.current(r) and has_rank_pattern(r) and beats_majority(r)]
        if kept:
            cells.append((task, data.found.groups[gkey], kept))
    return sorted(cells, key=lambda c: (c[0], c[1].sort_key))


def rank_lines(cells) -> list[str]:
    from .figures import rank_grid
    lines = ["", "## Fig. 3: AdaLoRA's final rank, runs above the majority class only", "",
             "Mean final rank per layer × matrix type over the AdaLoRA runs of each cell that beat the majority class "
             "(the heat maps: `claims_fig3_<task>_<budget>.png`). The shares and their tests are in the Fig. 3 rows "
             "above."]
    if not cells:
        lines += ["", "No AdaLoRA run of this protocol above the majority class yet."]
    for task, group, recs in cells:
        types, layers, values = rank_grid(recs)
        lines += ["", f"### {TASK_NAMES.get(task, task)}, {group.label} (seeds {', '.join(str(r.seed) for r in recs)})",
                  "", "| layer | " + " | ".join(types) + " |", "|---|" + "---:|" * len(types)]
        for j, layer in enumerate(layers):
            lines.append(f"| {layer} | " + " | ".join("–" if values[i][j] is None else f"{values[i][j]:.1f}"
                                                      for i in range(len(types))) + " |")
    return lines


def claims_markdown(f: Findings, rank_cells=()) -> str:
    lines = [f"# {f.study.title} — MiniLM-L6", "",
             "Built by `make tables` (`python -m runners.tables.findings`) from results/runs/minilm (seeds 1–5, "
             "records of the current conf/experiment/cpu/protocol.yaml only). Verdict rules, the statistics and the "
             "families are described in runners/tables/findings.py and runners/tables/stats.py.", ""]
    lines += detail(f.found, [t for t in f.tasks if t in MAIN_METRIC])
    lines += rank_lines(list(rank_cells))
    return "\n".join(lines) + "\n"


def update_readme(path: Path, section: str, study: Study = PAPER) -> bool:
    """Replace the study's marked section of results/README.md (True if it changed); a README without its markers is
    an error."""
    text = path.read_text()
    if study.start not in text or study.end not in text:
        raise SystemExit(f"error: {path} has no {study.key} markers ({study.start} ... {study.end}): add them where "
                         "its claim table goes")
    head, rest = text.split(study.start, 1)
    _, tail = rest.split(study.end, 1)
    new = head + section + tail
    if new == text:
        return False
    path.write_text(new)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.tables.findings", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("results/runs"))
    parser.add_argument("--lr-search", type=Path, default=Path("results/lr-search"))
    parser.add_argument("--pilots", type=Path, default=Path("results/pilots"))
    parser.add_argument("--out", type=Path, default=Path("results/tables"))
    parser.add_argument("--readme", type=Path, default=Path("results/README.md"))
    args = parser.parse_args(argv)
    data = Data(collect(args.runs), protocol=protocol_settings())
    cells = learning_rank_cells(data)
    folder = args.out / MODEL
    folder.mkdir(parents=True, exist_ok=True)
    files, built = {}, []
    for study in STUDIES:
        f = build(args.runs, args.lr_search, args.pilots if study is PAPER else None, study=study)
        built.append(f)
        files[folder / study.file] = claims_markdown(f, cells if study is PAPER else ()).encode()
    if cells:
        from .figures import fig3
        for task, group, recs in cells:
            files[folder / f"claims_fig3_{task}_{group.slug}.png"] = fig3(MODEL, task, group, recs)
    for stale in folder.glob("claims_fig3_*.png"):
        if stale not in files:
            stale.unlink()
            print(f"  removed {stale}")
    for path, content in files.items():
        if not path.is_file() or path.read_bytes() != content:
            path.write_bytes(content)
            print(f"  wrote   {path}")
    for f in built:
        if args.readme and args.readme.is_file() and update_readme(args.readme, readme_section(f), f.study):
            print(f"  wrote   {args.readme} ({f.study.key} claim table)")
        verdicts = defaultdict(int)
        for r in f.found:
            verdicts[r.verdict] += 1
        print(f"findings ({f.study.key}): {f.runs_done} of {f.runs_planned} reported runs; comparisons: "
              + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
