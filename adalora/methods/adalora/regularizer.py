"""The orthogonal regulariser R(P, Q) of AdaLoRA (spec §2), for any layers holding `lora_A` (r x in) and
`lora_B` (out x r): AdaLoRA's Q and P, or LoRA's A and B (LoRA_regu, Table 5).

- "code" (default, the official code and PEFT): mean over the 2n matrices of the *unsquared* Frobenius norms
  ||Q Qᵀ - I||_F and ||Pᵀ P - I||_F, over all r rows/columns (pruned triplets included).
- "paper" (eq. 4): the sum over matrices of the *squared* norms.
The gamma values in the paper and the scripts belong to the code form.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...grouping import group_indices


def _gram_deviation_norms(mats: Sequence[torch.Tensor], left: bool) -> list[torch.Tensor]:
    """||M Mᵀ - I||_F (left) or ||Mᵀ M - I||_F of every matrix, one batched computation per shape."""
    out = []
    for idx in group_indices([tuple(m.shape) for m in mats]):
        stacked = torch.stack([mats[i] for i in idx])
        gram = stacked @ stacked.transpose(1, 2) if left else stacked.transpose(1, 2) @ stacked
        eye = torch.eye(gram.shape[-1], device=gram.device, dtype=gram.dtype)
        out.append(torch.linalg.matrix_norm(gram - eye))
    return out


def orthogonal_regularizer(layers: Sequence[nn.Module], form: str = "code") -> torch.Tensor:
    norms = torch.cat(_gram_deviation_norms([layer.lora_A for layer in layers], left=True)
                      + _gram_deviation_norms([layer.lora_B for layer in layers], left=False))
    if form == "code":
        return norms.sum() / norms.numel()
    return (norms ** 2).sum()
