"""The paper's table layouts: which tasks and metrics are its columns, which methods and budget levels its rows.

Every table is built the same way: rows are (method, budget) pairs, columns are (task, metric) pairs. Tables 1
and 3 have this orientation in the paper; Tables 2, 4, 5 and 15 print budgets as columns, which we turn into
rows so that every cell can hold mean ± std (n) with the paper's value and the difference beneath it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    task: str      # the suite's task name; "all" for Table 1's average
    metric: str    # a metric key of a record (see values.py), or one computed from it
    header: str    # as the paper prints the column


@dataclass(frozen=True)
class Layout:
    key: str                      # "table1"
    file: str                     # "table1_glue" (the output file's stem)
    paper_table: str              # "1": the `table` column of results/paper/*.csv
    title: str
    paper_model: str              # the model the paper ran for this table
    columns: tuple[Column, ...]
    methods: tuple[str, ...]      # the table's methods, in the paper's row order
    tiers: tuple[str, ...]        # the paper's budget labels, in display order
    focal: str | None = "adalora"  # the method compared against the others for significance
    difference: bool = True       # Δ = ours − paper (off for costs measured on other hardware)
    fig2: str | None = None       # the Fig. 2 panel family this table feeds
    remark: str = ""              # how our records' metrics map onto the paper's columns, where not obvious
    paper: bool = True            # the paper has this table (False: methods and options it never ran; no paper rows)
    curve_methods: tuple[str, ...] = ()  # more methods drawn in the score-vs-parameters figure (our records only)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.task for c in self.columns if c.task != "all"))


GLUE_COLUMNS = (
    Column("mnli", "accuracy", "MNLI-m"), Column("mnli", "accuracy_mm", "MNLI-mm"),
    Column("sst2", "accuracy", "SST-2"), Column("cola", "matthews_correlation", "CoLA"),
    Column("qqp", "accuracy", "QQP-acc"), Column("qqp", "f1", "QQP-F1"), Column("qnli", "accuracy", "QNLI"),
    Column("rte", "accuracy", "RTE"), Column("mrpc", "accuracy", "MRPC"), Column("stsb", "combined_score", "STS-B"),
    Column("all", "average", "All"),
)

LAYOUTS = (
    Layout("table1", "table1_glue", "1", "Table 1: GLUE dev", "deberta-v3-base", GLUE_COLUMNS,
           ("full", "bitfit", "houlsby", "pfeiffer", "lora", "adalora"), ("1.2M", "0.6M", "0.3M"), fig2="glue",
           curve_methods=("sora", "increlora", "dora", "pissa", "rslora", "loraplus")),
    Layout("table2", "table2_squad", "2", "Table 2: SQuAD dev, EM / F1", "deberta-v3-base",
           (Column("squad", "exact_match", "v1.1 EM"), Column("squad", "f1", "v1.1 F1"),
            Column("squad_v2", "exact_match", "v2.0 EM"), Column("squad_v2", "f1", "v2.0 F1")),
           ("full", "houlsby", "pfeiffer", "lora", "adalora"), ("0.08%", "0.16%", "0.32%", "0.65%"), fig2="squad",
           remark="EM: our records' `exact_match` (SQuAD v2.0's metric calls it `exact`)."),
    Layout("table3", "table3_summarization", "3", "Table 3: summarisation, ROUGE-1 / 2 / L", "bart-large",
           (Column("xsum", "rouge1", "XSum R-1"), Column("xsum", "rouge2", "XSum R-2"),
            Column("xsum", "rougeLsum", "XSum R-L"), Column("cnn_dailymail", "rouge1", "CNN/DM R-1"),
            Column("cnn_dailymail", "rouge2", "CNN/DM R-2"), Column("cnn_dailymail", "rougeLsum", "CNN/DM R-L")),
           ("full", "lora", "adalora"), ("2.20%", "1.10%", "0.26%", "0.13%"), fig2="summarization",
           remark="R-L: our records' `rougeLsum` (summary-level ROUGE-L), which the paper's CNN/DM values match; "
                  "the paper does not name its variant (results/paper/README.md)."),
    Layout("table4", "table4_ablation_importance", "4", "Table 4: importance-score ablations", "deberta-v3-base",
           (Column("sst2", "accuracy", "SST-2"), Column("rte", "accuracy", "RTE"),
            Column("cola", "matthews_correlation", "CoLA")),
           ("prune-lora", "adalora", "adalora-sensitivity", "adalora-magnitude"), ("0.08%", "0.16%", "0.65%")),
    Layout("table5", "table5_ablation_components", "5", "Table 5: component ablations", "deberta-v3-base",
           (Column("sst2", "accuracy", "SST-2"), Column("mnli", "accuracy_mean_m_mm", "MNLI (m+mm)/2")),
           ("lora", "lora-regu", "svd-lora", "adalora-gamma0", "adalora"), ("0.08%", "0.16%", "0.32%", "0.65%"),
           remark="MNLI: per record, the mean of matched and mismatched accuracy, as the paper's caption says."),
    Layout("table15", "table15_cost", "15", "Table 15: training cost", "deberta-v3-base",
           (Column("mnli", "time_per_epoch_min", "MNLI time/epoch (min)"), Column("mnli", "memory_gb", "MNLI memory (GB)"),
            Column("sst2", "time_per_epoch_min", "SST-2 time/epoch (min)"), Column("sst2", "memory_gb", "SST-2 memory (GB)")),
           ("lora", "adalora"), ("0.08%", "0.16%", "0.65%"), focal=None, difference=False),
    # Not in the paper: issue 17's options of AdaLoRA and issue 18's methods published after it (cpu/beyond,
    # cpu/successors). Each at its own selected learning rate; AdaLoRA is compared against every other row.
    Layout("beyond", "beyond_adalora_options", "", "Beyond the paper: AdaLoRA's options for its open problems",
           "deberta-v3-base", (Column("sst2", "accuracy", "SST-2"), Column("cola", "matthews_correlation", "CoLA")),
           ("adalora", "adalora-reactivation", "adalora-lcb", "adalora-fisher"), ("0.08%", "0.16%"), paper=False,
           remark="Options of the suite's AdaLoRA, off by default (adalora/ALGORITHM.md §15): reactivation lets a "
                  "masked triplet return when its score recovers; LCB ranks triplets by a lower confidence bound of "
                  "the sensitivity (mean − κ·uncertainty); Fisher replaces |w·g| by the empirical Fisher (w·g)²."),
    Layout("successors", "successors_methods_since", "", "Methods since the paper: AdaLoRA against its successors",
           "deberta-v3-base", (Column("sst2", "accuracy", "SST-2"), Column("cola", "matthews_correlation", "CoLA")),
           ("lora", "adalora", "sora", "increlora", "dora", "pissa", "rslora", "loraplus"), ("0.16%", "0.65%"),
           paper=False,
           remark="SoRA and IncreLoRA end at AdaLoRA's final budget (adalora/methods/sora, increlora); DoRA, PiSSA, "
                  "rsLoRA and LoRA+ are PEFT's, at LoRA's rank for the budget (adalora/methods/peft_lora)."),
)

METHOD_NAMES = {
    "full": "Full FT", "bitfit": "BitFit", "houlsby": "HAdapter", "pfeiffer": "PAdapter", "lora": "LoRA",
    "adalora": "AdaLoRA", "prune-lora": "Prune LoRA", "adalora-sensitivity": "s(·)=I(·)",
    "adalora-magnitude": "S_i=|λ_i|", "lora-regu": "LoRA_regu", "svd-lora": "SVD-LoRA", "adalora-gamma0": "AdaLoRA γ=0",
    "adalora-reactivation": "AdaLoRA + reactivation", "adalora-lcb": "AdaLoRA, LCB score",
    "adalora-fisher": "AdaLoRA, Fisher score", "sora": "SoRA", "increlora": "IncreLoRA", "dora": "DoRA",
    "pissa": "PiSSA", "rslora": "rsLoRA", "loraplus": "LoRA+",
}

MODEL_NAMES = {
    "deberta-v3-base": "DeBERTaV3-base", "bart-large": "BART-large", "minilm": "MiniLM-L6 (all-MiniLM-L6-v2)",
    "tiny-bert": "tiny BERT (random weights, tests only)",
}

TASK_NAMES = {
    "mnli": "MNLI", "sst2": "SST-2", "cola": "CoLA", "qqp": "QQP", "qnli": "QNLI", "rte": "RTE", "mrpc": "MRPC",
    "stsb": "STS-B", "squad": "SQuAD v1.1", "squad_v2": "SQuAD v2.0", "xsum": "XSum", "cnn_dailymail": "CNN/DailyMail",
}

# Fig. 2's y axis per task: the paper's headline metric for it (SQuAD: F1 as in the paper's figure).
FIG2_METRIC = {"mnli": "accuracy", "sst2": "accuracy", "cola": "matthews_correlation", "qqp": "accuracy",
               "qnli": "accuracy", "rte": "accuracy", "mrpc": "accuracy", "stsb": "combined_score",
               "squad": "f1", "squad_v2": "f1", "xsum": "rouge1", "cnn_dailymail": "rouge1"}
METRIC_NAMES = {"accuracy": "accuracy", "matthews_correlation": "Matthews corr.", "combined_score": "avg. correlation",
                "f1": "F1", "rouge1": "ROUGE-1"}


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def model_name(model: str) -> str:
    return MODEL_NAMES.get(model, model)
