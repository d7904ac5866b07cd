"""Dumps PyTorch reference fixtures for Sono's model parity tests.

    python dump_parity.py --out DIR [--encoder efficientnet-b4] [--batch 2]
                          [--size 256] [--seed 0] [--decoder-in-optimizer]
                          [--dtype float32|float64]

Writes DIR/weights.safetensors (the random initial state_dict, every entry) and
one DIR/<task>.safetensors per task type: a training step from those weights
(train mode, batch-statistics BN, dropout and drop-connect disabled) with the
input, target, output, loss, gradients, BN buffers after the forward and the
parameters after one AdamW step. Key names: see README.md next to this file.

--dtype float64 computes the step in double (from the same float32 weights and
inputs) and stores the results rounded to float32, without the AdamW step: in
float64 no ReLU can take a different branch through rounding, so gradients are
comparable to the storage precision (see README.md).
"""
import argparse
import os
import platform
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see mhmtl.py

import numpy as np
import torch
import timm
import segmentation_models_pytorch as smp
from safetensors.torch import save_file

import mhmtl

# One task per type; the segmentation one also dumps the encoder features and
# the decoder output to localise mismatches.
PARITY_TASKS = ["cardiac_multi", "organ_cls", "IUGC", "thyroid_nodule_det"]
FORMAT = "sono-parity-1"
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def make_target(task_id, batch, size, gen):
    task_type, n = mhmtl.TASKS[task_id]
    if task_type == mhmtl.SEGMENTATION:
        # Every class but one occurs somewhere in the batch; the absent class
        # (a middle one, not background and not the last) exercises Dice's
        # masking of classes missing from the ground truth.
        absent = n // 2
        present = torch.tensor([c for c in range(n) if c != absent])
        idx = torch.randint(0, len(present), (batch, size, size), generator=gen)
        return present[idx]
    if task_type == mhmtl.CLASSIFICATION:
        return torch.randint(0, n, (batch,), generator=gen)
    if task_type == mhmtl.REGRESSION:
        return torch.rand(batch, 2 * n, generator=gen)
    # Detection: valid normalised (x_min, y_min, x_max, y_max) boxes.
    a = torch.rand(batch, 2, 2, generator=gen)
    lo, hi = a.min(dim=1).values, a.max(dim=1).values
    return torch.stack([lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]], dim=1)


def detached(t):
    """A stored copy; floating tensors are always stored as float32."""
    t = t.detach()
    if t.is_floating_point():
        t = t.to(torch.float32)
    return t.clone().contiguous()


def run_task(model, initial_state, task_id, args, gen, include_decoder):
    """One baseline training step on task_id, starting from initial_state."""
    model.load_state_dict(initial_state)
    model.zero_grad(set_to_none=True)
    model.train()  # BN uses batch statistics and updates running stats
    optimizer = mhmtl.build_optimizer(model, include_decoder=include_decoder)
    optimizer.zero_grad(set_to_none=True)  # torch 2.x semantics (docs/reference-model.md 6.1)

    x = torch.randn(args.batch, 3, args.size, args.size, generator=gen)
    target = make_target(task_id, args.batch, args.size, gen)
    dtype = DTYPES[args.dtype]
    target_c = target.to(dtype) if target.is_floating_point() else target
    trace = {}
    output = model(x.to(dtype), task_id, trace=trace)
    loss = mhmtl.task_loss(task_id, output, target_c)
    out = {"x": x, "target": target, "output": detached(output), "loss": detached(loss)}
    if mhmtl.TASKS[task_id][0] == mhmtl.DETECTION:
        pred, cells = mhmtl.detection_cell_predictions(output, target_c)
        out["det.pred"] = detached(pred)
        out["det.cell"] = cells
    if mhmtl.TASKS[task_id][0] == mhmtl.SEGMENTATION:
        for i, f in enumerate(trace["features"]):
            out[f"feature.{i}"] = detached(f)
        out["decoder"] = detached(trace["decoder"])
    # Buffers change in the forward (running stats, num_batches_tracked).
    for name, b in model.named_buffers():
        out[f"buffer.{name}"] = detached(b)

    loss.backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            out[f"grad.{name}"] = detached(p.grad)

    if args.dtype != "float32":
        return out  # Sono's AdamW updates float32 parameters only
    optimizer.step()
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        if p.grad is not None and id(p) in in_optimizer:
            out[f"step.{name}"] = detached(p)
    return out


def metadata(args, task_id=None):
    meta = {
        "format": FORMAT,
        "torch": torch.__version__,
        "segmentation_models_pytorch": smp.__version__,
        "timm": timm.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "encoder": args.encoder,
        "batch": str(args.batch),
        "size": str(args.size),
        "seed": str(args.seed),
        "stochastic_layers": "disabled (dropout p=0, drop-connect rate 0)",
        "compute_dtype": args.dtype,
    }
    if task_id is not None:
        task_type, n = mhmtl.TASKS[task_id]
        meta.update({
            "task": task_id,
            "task_type": task_type,
            "num_classes": str(n),
            "optimizer": ("AdamW betas=(0.9,0.999) eps=1e-8 decoupled weight_decay, one step, grads set to None"
                          if args.dtype == "float32" else "none (no step in " + args.dtype + ")"),
            "lr_encoder": repr(mhmtl.LR_ENCODER),
            "lr_heads": repr(mhmtl.LR_HEADS),
            "lr_decoder": repr(mhmtl.LR_DECODER) if args.decoder_in_optimizer else "none (not in optimizer)",
            "weight_decay": repr(mhmtl.WEIGHT_DECAY),
        })
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--encoder", default="efficientnet-b4", choices=mhmtl.ENCODERS)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--size", type=int, default=256, help="multiple of 32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", default=",".join(PARITY_TASKS), help="comma-separated task ids")
    ap.add_argument("--decoder-in-optimizer", action="store_true",
                    help="give the FPN decoder an AdamW group at lr 1e-3 (Sono's default recipe)")
    ap.add_argument("--dtype", default="float32", choices=sorted(DTYPES),
                    help="compute dtype; results are stored as float32 either way")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads; this torch build picks slow im2col convs at 1 thread")
    args = ap.parse_args()
    if args.size % 32 or args.batch < 1:
        ap.error("--size must be a multiple of 32 and --batch >= 1")
    tasks = args.tasks.split(",")
    for t in tasks:
        if t not in mhmtl.TASKS:
            ap.error(f"unknown task {t}")

    start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = mhmtl.MultiTaskModel(args.encoder)
    mhmtl.disable_stochastic_layers(model)
    os.makedirs(args.out, exist_ok=True)

    initial_state = {k: detached(v) for k, v in model.state_dict().items()}
    meta = metadata(args)
    meta["state_dict_order"] = "\n".join(initial_state)
    save_file(initial_state, os.path.join(args.out, "weights.safetensors"), metadata=meta)
    model.to(DTYPES[args.dtype])  # the float32 weights convert exactly

    # Inputs come from their own generator so that they do not depend on how
    # many random numbers model construction drew.
    gen = torch.Generator().manual_seed(args.seed + 1)
    for task_id in tasks:
        t0 = time.time()
        tensors = run_task(model, initial_state, task_id, args, gen, args.decoder_in_optimizer)
        path = os.path.join(args.out, f"{task_id}.safetensors")
        save_file(tensors, path, metadata=metadata(args, task_id))
        print(f"{task_id:20s} loss {tensors['loss'].item():.6f}  {len(tensors)} tensors  "
              f"{os.path.getsize(path) / 2**20:.1f} MiB  {time.time() - t0:.1f} s")
    print(f"dump_parity: {args.encoder} batch {args.batch} size {args.size} -> {args.out} "
          f"in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
