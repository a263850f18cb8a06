"""The optimisation recipe and the device: what each step of ftui's loop runs with.

AdamW in four groups (body/head x decay/no-decay) with the new head at a higher rate, and a linear
warm-up + decay that is a function of (step, total steps) only, so a resumed run continues it
exactly. Kept apart from loop.py, which reads top to bottom as the run itself.
"""
from __future__ import annotations

import math
import os
import random
import re

import torch

from ftui.config import TrainOptions
from ftui.vocab import TaskName


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA
    try:
        import numpy as np
    except ImportError:  # numpy is optional for the loop; nothing of ours draws from it then
        return
    np.random.seed(seed % 2**32)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_cpu_threads() -> int:
    """One intra-op thread per core this process may use (its affinity, which a container or a
    scheduler narrows; FTUI_THREADS overrides). torch's default counts the machine's cores, which
    oversubscribes a worker pinned to a few of them."""
    wanted = os.environ.get("FTUI_THREADS", "").strip()
    threads = int(wanted) if wanted.isdigit() and int(wanted) > 0 else len(os.sched_getaffinity(0))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def compile_for_gpu(model: torch.nn.Module, device: torch.device, task: str) -> bool:
    """torch.compile where it pays: on a GPU, for text models, whose training batches come in a few
    bucketed shapes (tasks/text_batches.py). Measured on an H200 (ENVIRONMENT.md): MiniLM 3,872 -> 6,641
    samples/s with fixed shapes, but 46 samples/s with many distinct shapes (recompiles), so never on
    unbucketed input; on a CPU it does not pay for its compile time on runs of minutes. In place
    (nn.Module.compile), so state_dict names stay the same; a graph dynamo cannot compile runs eagerly
    (suppress_errors) rather than failing the run."""
    if device.type != "cuda" or task != TaskName.TEXT or not hasattr(model, "compile"):
        return False
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    model.compile(dynamic=False)
    return True


def freeze_body(model: torch.nn.Module, head: frozenset[str]) -> None:
    """Only the new head learns; a model with batch norms (PixelModel) keeps their pretrained statistics."""
    for name, param in model.named_parameters():
        param.requires_grad = name in head
    if hasattr(model, "frozen_norms"):
        model.frozen_norms = True


def autocast_context(device: torch.device):
    """bf16 autocast on GPUs that support it (no loss scaling needed); full precision on CPU,
    where bf16 autocast is slower on most processors."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def build_optimizer(model: torch.nn.Module, head: frozenset[str], lr: float, opts: TrainOptions):
    """AdamW, four groups: body/head x decay/no-decay.

    A random head needs a bigger step than the pretrained body (lr * multiplier; one large lr for
    everything is what collapses MiniLM to a single class); a head fitted first does not (adapt.py).
    Biases and norm weights (1-D tensors) get no weight decay, as in BERT's original recipe.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay_rate = float(getattr(opts, "layer_decay", None) or 1.0)
    depth_of = layer_depths([n for n, _ in named]) if decay_rate < 1.0 else {n: 0 for n, _ in named}
    top = max((depth_of[n] for n, _ in named if n not in head), default=0)  # the body's last block: full rate
    groups: dict[tuple, list] = {}
    for name, param in named:
        groups.setdefault((name in head, param.ndim >= 2, depth_of[name]), []).append(param)
    param_groups = []
    for (is_head, decay, depth), params in sorted(groups.items(), key=lambda item: item[0]):
        multiplier = float(opts.head_lr_multiplier or 1.0) if is_head else decay_rate ** (top - depth)
        param_groups.append({"params": params, "lr": lr * multiplier, "base_lr": lr * multiplier,
                             "weight_decay": opts.weight_decay if decay else 0.0,
                             "name": f"{'head' if is_head else 'body'}{'' if decay else '_no_decay'}"
                                     + (f"_depth{depth}" if top and not is_head else "")})
    try:
        # The fused kernel is ~10x faster than the default on CPU too (MiniLM: 0.02 s vs 0.2 s a step).
        return torch.optim.AdamW(param_groups, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # a device/dtype the fused kernel lacks: the portable version
        return torch.optim.AdamW(param_groups, lr=lr)


def layer_depths(names: list[str]) -> dict[str, int]:
    """Each parameter's depth for layer-wise rate decay: 0 for embeddings and stems, i + 1 for the i-th
    block (`layer.i`, `layers.i`, `_blocks.i`, `blocks.i`), the deepest + 1 for what follows the blocks."""
    block = re.compile(r"(?:^|\.)(?:layer|layers|_blocks|blocks)\.(\d+)\.")
    found = {name: int(m.group(1)) + 1 for name in names if (m := block.search(name))}
    last = max(found.values(), default=0)
    out, seen_block = {}, False
    for name in names:  # named_parameters order: stems before blocks, norms and poolers after
        if name in found:
            out[name], seen_block = found[name], True
        else:
            out[name] = last + 1 if seen_block else 0
    return out


def body_lr(optimizer) -> float:
    """The pretrained body's current rate, at its last block (the one the chart shows; the head's and, with
    layer-wise decay, the lower blocks' are fixed multiples of it)."""
    groups = optimizer.param_groups
    return max((g["lr"] for g in groups if g.get("name", "").startswith("body")), default=groups[0]["lr"])


def lr_factor(step: int, total_steps: int, warmup_ratio: float) -> float:
    """The schedule, a pure function of the step (nanoGPT's get_lr): a linear warm-up over warmup_ratio of
    the steps, then a linear decay to zero. `step` is the number of steps done; the next one uses this.

    Being a function of (step, total) only, a resumed run needs no scheduler state to continue exactly.
    "Train N more epochs" evaluates it over the new total at the step reached: the rate goes from ~0
    straight (no new warm-up) to what a run configured for the new total would have there (about
    N / (old + N) of the peak), then decays to zero again -- chosen over a fresh warm-up + decay from the
    full rate, which would throw a converged model far off its minimum."""
    warmup = int(math.ceil(total_steps * warmup_ratio))
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


def set_learning_rates(optimizer, step: int, total_steps: int, warmup_ratio: float) -> None:
    """Every group at its own base rate (build_optimizer's body/head/layer multiples) times the schedule."""
    factor = lr_factor(step, total_steps, warmup_ratio)
    for group in optimizer.param_groups:
        # a checkpoint of an older ftui kept its groups' base rates as torch's LambdaLR did: initial_lr
        group["lr"] = group.setdefault("base_lr", group.get("initial_lr", group["lr"])) * factor
