"""The orthogonal regulariser R(P, Q) of AdaLoRA (ALGORITHM.md §2), for any layers holding `lora_A` (r x in) and
`lora_B` (out x r): AdaLoRA's Q and P, or LoRA's A and B (LoRA_regu, Table 5).

- "code" (default, the official code and PEFT): mean over the 2n matrices of the *unsquared* Frobenius norms
  ||Q Qᵀ - I||_F and ||Pᵀ P - I||_F, over all r rows/columns (pruned triplets included).
- "paper" (eq. 4): the sum over matrices of the *squared* norms.
The gamma values in the paper and the scripts belong to the code form.

The backward pass uses the closed form d||M Mᵀ - I||_F / dM = 2 (M Mᵀ - I) M / ||M Mᵀ - I||_F (M Mᵀ - I is
symmetric): one product per matrix, where autograd's generic rule for M Mᵀ takes two products and a sum. The
matrices of one shape are stacked and handled by one batched product (a few operations per shape group instead
of a few per matrix: on a short-sequence CPU step the per-matrix operations were a visible share of AdaLoRA's
extra time, issue 13). On a CPU, ATen's batched product runs the same GEMM per matrix as the unbatched one except
for tiny products (contraction x rows x columns below 400), which it computes in a plain loop that rounds
differently; groups that small stay unbatched, so the regulariser is bitwise the same either way
(tests/test_fast_paths.py checks the model shapes).
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


# ATen's CPU bmm computes products with contraction x rows x columns below this in its own loop (other rounding
# than the GEMM that mm and larger bmm use); a margin above it keeps CPU batching on the GEMM path.
CPU_BATCH_MIN_PRODUCT = 1024


def batches_on(mat: torch.Tensor) -> bool:
    """Whether a group of matrices shaped like `mat` is stacked: always on an accelerator; on a CPU when both of
    the regulariser's products (the r x r Gram matrix, and the r x r times M of the backward pass) are large enough
    for ATen's batched product to use the same GEMM as the unbatched one."""
    if mat.device.type != "cpu":
        return True
    rows, cols = mat.shape
    r, d = min(rows, cols), max(rows, cols)
    return r * r * d >= CPU_BATCH_MIN_PRODUCT


def gram_deviation_norms(mats: Sequence[torch.Tensor], left: bool, batched: bool | None = None) -> torch.Tensor:
    """||M Mᵀ - I||_F (left) or ||Mᵀ M - I||_F of every matrix, grouped by shape (groups in order of first
    appearance). `batched` defaults to `batches_on` per group."""
    out = []
    # In the adapters' own precision even inside an autocast region (a bf16 forward pass): the backward pass runs
    # outside it and multiplies with the fp32 matrices saved here.
    with torch.autocast(mats[0].device.type, enabled=False):
        for idx in group_indices([tuple(m.shape) for m in mats]):
            group = [mats[i] for i in idx]
            stack = batches_on(group[0]) if batched is None else batched
            out.append(_GramDeviationNorms.apply(left, stack and len(group) > 1, *group))
    return torch.cat(out) if len(out) > 1 else out[0]


def orthogonal_regularizer(layers: Sequence[nn.Module], form: str = "code", batched: bool | None = None) -> torch.Tensor:
    norms = torch.cat([gram_deviation_norms([layer.lora_A for layer in layers], left=True, batched=batched),
                       gram_deviation_norms([layer.lora_B for layer in layers], left=False, batched=batched)])
    if form == "code":
        return norms.sum() / norms.numel()
    return (norms ** 2).sum()
