"""The orthogonal regulariser R(P, Q) of AdaLoRA (ALGORITHM.md §2), for any layers holding `lora_A` (r x in) and
`lora_B` (out x r): AdaLoRA's Q and P, or LoRA's A and B (LoRA_regu, Table 5).

- "code" (default, the official code and PEFT): mean over the 2n matrices of the *unsquared* Frobenius norms
  ||Q Qᵀ - I||_F and ||Pᵀ P - I||_F, over all r rows/columns (pruned triplets included).
- "paper" (eq. 4): the sum over matrices of the *squared* norms.
The gamma values in the paper and the scripts belong to the code form.

The backward pass uses the closed form d||M Mᵀ - I||_F / dM = 2 (M Mᵀ - I) M / ||M Mᵀ - I||_F (M Mᵀ - I is
symmetric): one product per matrix, where autograd's generic rule for M Mᵀ takes two products and a sum. On an
accelerator the matrices of one shape are stacked and handled by one batched product (a few kernel launches per
shape group); on a CPU they are handled one by one, which spares copying every adapter into a stack.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ...grouping import group_indices


class _GramDeviationNorms(torch.autograd.Function):
    """||M Mᵀ - I||_F (left) or ||Mᵀ M - I||_F of each of a list of same-shape matrices."""

    @staticmethod
    def forward(ctx, left: bool, batched: bool, *mats: torch.Tensor) -> torch.Tensor:
        if batched:
            stacked = torch.stack(mats)
            dev = stacked @ stacked.transpose(1, 2) if left else stacked.transpose(1, 2) @ stacked
            saved = (stacked,)
        else:
            dev = torch.stack([m @ m.T if left else m.T @ m for m in mats])
            saved = mats
        dev.diagonal(dim1=1, dim2=2).sub_(1)       # M Mᵀ - I
        norms = torch.linalg.matrix_norm(dev)
        ctx.save_for_backward(dev, norms, *saved)
        ctx.left, ctx.batched = left, batched
        return norms

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_norms: torch.Tensor):
        dev, norms, *saved = ctx.saved_tensors
        # The subgradient at an exactly orthogonal matrix (norm 0) is 0, as autograd's norm takes it.
        coef = torch.where(norms > 0, 2 * grad_norms / norms.clamp_min(torch.finfo(norms.dtype).tiny), 0.0)
        weighted = dev * coef[:, None, None]
        if ctx.batched:
            (stacked,) = saved
            grads = (weighted @ stacked if ctx.left else stacked @ weighted).unbind(0)
        else:
            grads = [weighted[k] @ m if ctx.left else m @ weighted[k] for k, m in enumerate(saved)]
        return (None, None, *grads)


def gram_deviation_norms(mats: Sequence[torch.Tensor], left: bool, batched: bool | None = None) -> torch.Tensor:
    """||M Mᵀ - I||_F (left) or ||Mᵀ M - I||_F of every matrix, grouped by shape (groups in order of first
    appearance). `batched` defaults to stacking on accelerators and not on the CPU."""
    if batched is None:
        batched = mats[0].device.type != "cpu"
    return torch.cat([_GramDeviationNorms.apply(left, batched, *[mats[i] for i in idx])
                      for idx in group_indices([tuple(m.shape) for m in mats])])


def orthogonal_regularizer(layers: Sequence[nn.Module], form: str = "code", batched: bool | None = None) -> torch.Tensor:
    norms = torch.cat([gram_deviation_norms([layer.lora_A for layer in layers], left=True, batched=batched),
                       gram_deviation_norms([layer.lora_B for layer in layers], left=False, batched=batched)])
    if form == "code":
        return norms.sum() / norms.numel()
    return (norms ** 2).sum()
