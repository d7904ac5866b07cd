"""Where the time goes: one eval forward and one training step of the whole
model, per op family, Sono (`sono profile`, core/profile.h) beside PyTorch
(torch.profiler on the official model, tools/reference/mhmtl.py, fp32 eager).

    SONO_REF_VENV=.venv-ref tools/profile_compare.sh [--sono BUILD/sono] [options]
    .venv-ref/bin/python tools/profile_compare.py --sono build/sono [options]

Defaults: EfficientNet-B4, 256x256, batch 2, task cardiac_multi (segmentation:
encoder, FPN decoder, Dice), 2 threads for both engines, one warm-up forward
and step each, then one profiled forward and one profiled step. Both engines
time on the host: Sono the exclusive time of every kernel call and backward
node, PyTorch the inclusive time of every top-level op (forward, optimizer)
and of every backward node (autograd::engine::evaluate_function). What no
entry covers (Python, allocation, graph bookkeeping) is the "outside ops" row.
Prints a markdown table (docs/benchmarks.md, "Where the time goes").
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as tools/bench_compare.py: the same for both engines

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK_KEYS = {"cardiac_multi": "seg", "organ_cls": "cls", "thyroid_nodule_det": "det", "IUGC": "reg"}
FAMILIES = ["conv 1x1", "conv dense kxk", "conv depthwise", "BN (+SiLU fused)", "SiLU", "SE (pool, gate)",
            "add", "upsample", "GroupNorm + ReLU (decoder)", "loss", "optimizer", "other ops", "outside ops"]


def conv_family(kind):
    if kind.startswith("depthwise"):
        return "conv depthwise"
    return "conv 1x1" if kind.startswith("1x1") else "conv dense kxk"


def sono_family(name):
    n = name.lower()
    m = re.match(r"(bwd:)?conv2d_(forward|backward) (.*)", n)
    if m:
        return conv_family(m.group(3))
    if n.startswith("bwd:"):
        node = n[4:]
        if "conv" in node:
            return "conv dense kxk"  # the node's own bookkeeping; its kernel is the conv2d_backward entry
        if "batchnorm" in node or "batch_norm" in node:
            return "BN (+SiLU fused)"
        return "other ops"
    if "batch_norm" in n:
        return "BN (+SiLU fused)"
    if "group_norm" in n or "relu" in n:
        return "GroupNorm + ReLU (decoder)"
    if "se_gate" in n or "avg_pool" in n:
        return "SE (pool, gate)"
    if "activation" in n or "silu" in n:
        return "SiLU"
    if "drop_connect_add" in n or n.startswith("binary") or "axpy" in n:
        return "add"
    if "upsample" in n:
        return "upsample"
    if "loss" in n or "dice" in n or "cross_entropy" in n or "softmax" in n:
        return "loss"
    if "adamw" in n:
        return "optimizer"
    return "other ops"


def torch_weight_kind(shape):
    """The family of a conv from its weight shape [out, in/groups, kh, kw]."""
    if not shape or len(shape) != 4:
        return "conv dense kxk"
    if shape[1] == 1 and shape[0] > 1:
        return "conv depthwise"
    return "conv 1x1" if shape[2] == 1 and shape[3] == 1 else "conv dense kxk"


def descendants(evt):
    for c in evt.cpu_children:
        yield c
        yield from descendants(c)


def torch_family(evt):
    n = evt.name.lower()
    shapes = evt.input_shapes or []
    if n.startswith("sono_family:"):
        return evt.name.split(":", 1)[1]
    if n.startswith("optimizer.step") or n.startswith("optimizer.zero_grad"):
        return "optimizer"
    if "evaluate_function:" in n:
        node = n.split("evaluate_function:", 1)[1].strip()
        if "convolution" in node:
            for d in descendants(evt):
                if "convolution_backward" in d.name and d.input_shapes and len(d.input_shapes) > 2:
                    return torch_weight_kind(d.input_shapes[2])
            return "conv dense kxk"
        if "batchnorm" in node:
            return "BN (+SiLU fused)"
        if "swish" in node or "silu" in node:
            return "SiLU"
        if "groupnorm" in node or "relu" in node or "threshold" in node:
            return "GroupNorm + ReLU (decoder)"
        if "upsample" in node:
            return "upsample"
        if "addbackward" in node:
            return "add"
        if "mean" in node or "sigmoid" in node or "mulbackward" in node:
            return "SE (pool, gate)"  # the SE block's pool and gate (the model's other muls are SiLU's, a custom node)
        if "accumulategrad" in node:
            return "optimizer"
        return "loss" if re.search(r"softmax|nll|sum|div|sub|pow|onehot|clamp|log", node) else "other ops"
    if n in ("aten::conv2d", "aten::convolution", "aten::_convolution"):
        return torch_weight_kind(shapes[1] if len(shapes) > 1 else None)
    if "batch_norm" in n:
        return "BN (+SiLU fused)"
    if "silu" in n or "swish" in n:
        return "SiLU"
    if "group_norm" in n or "relu" in n:
        return "GroupNorm + ReLU (decoder)"
    if "upsample" in n:
        return "upsample"
    if "adaptive_avg_pool" in n or "mean" in n:
        return "SE (pool, gate)"
    if n in ("aten::sigmoid", "aten::mul", "aten::mul_"):
        # SE's gate multiplies by an [N, C, 1, 1] tensor; the swish's sigmoid and mul are full-size
        small = any(len(s) == 4 and s[2] == 1 and s[3] == 1 for s in shapes)
        return "SE (pool, gate)" if small else "SiLU"
    if n in ("aten::add", "aten::add_"):
        return "add"
    return "other ops"


def family_table(wall, timed):
    """ms per op family of a phase from its (family, ms) entries; what they leave of the wall time is "outside ops"."""
    fam = {k: 0.0 for k in FAMILIES}
    covered = 0.0
    for family, ms in timed:
        fam[family] += ms
        covered += ms
    fam["outside ops"] = wall - covered
    return fam


def run_sono(args):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "profile.json")
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS="1")
        subprocess.run([args.sono, "profile", "--encoder", args.encoder, "--size", str(args.size), "--batch",
                        str(args.batch), "--task", args.task, "--json", out], check=True, env=env,
                       stdout=subprocess.DEVNULL if not args.verbose else None)
        with open(out) as f:
            report = json.load(f)
    phases = {}
    for ph in report["phases"]:
        fam = family_table(ph["wall_ms"], ((sono_family(e["name"]), e["ms"]) for e in ph["entries"]))
        phases[ph["phase"]] = (ph["wall_ms"], fam, ph["entries"])
    return phases


def run_torch(args):
    sys.path.insert(0, os.path.join(REPO, "tools"))
    import bench_compare
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function
    t = bench_compare.Torch(args.encoder, args.size, args.threads)
    key = TASK_KEYS[args.task]
    model, run_model, opt = t.model("cpu", "eager")
    x, target = t.inputs("cpu", key, args.batch, "eager")

    def forward():
        model.eval()
        with torch.no_grad():
            run_model(x, args.task)

    def step():
        model.train()
        opt.zero_grad(set_to_none=True)
        out = run_model(x, args.task)
        with record_function("sono_family:loss"):
            loss = t.mhmtl.task_loss(args.task, out, target)
        loss.backward()
        opt.step()
        loss.item()

    phases = {}
    for name, f in (("forward", forward), ("train_step", step)):
        f()  # warm-up
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            import time
            t0 = time.perf_counter()
            f()
            wall = (time.perf_counter() - t0) * 1e3
        fam = family_table(wall, ((torch_family(evt), evt.cpu_time_total / 1e3)
                                  for evt in prof.profiler.function_events if counted(evt)))
        phases[name] = (wall, fam, None)
    return phases, torch.__version__


def counted(evt):
    """A top-level op or an autograd node's evaluate_function, not inside another node."""
    top = evt.cpu_parent is None or "evaluate_function:" in evt.name
    if not top or (evt.cpu_parent is not None and "evaluate_function:" in (evt.cpu_parent.name or "")):
        return False
    return not (evt.cpu_parent is not None and any("evaluate_function:" in a.name for a in ancestors(evt)))


def ancestors(evt):
    p = evt.cpu_parent
    while p is not None:
        yield p
        p = p.cpu_parent


def table(sono, torch_phases, args, torch_version):
    lines = [f"EfficientNet-{args.encoder.split('-')[-1].upper()} at {args.size}x{args.size}, batch {args.batch}, "
             f"task {args.task}, {args.threads} threads; ms (share of the phase)",
             "",
             "| op family | Sono forward | PyTorch forward | Sono training step | PyTorch training step |",
             "| --- | ---: | ---: | ---: | ---: |"]

    def cell(phases, phase, fam):
        if phases is None:
            return "-"
        wall, f, _ = phases[phase]
        return f"{f[fam]:.0f} ({100 * f[fam] / wall:.0f}%)"

    for fam in FAMILIES:
        lines.append(f"| {fam} | {cell(sono, 'forward', fam)} | {cell(torch_phases, 'forward', fam)} | "
                     f"{cell(sono, 'train_step', fam)} | {cell(torch_phases, 'train_step', fam)} |")

    def total(phases, phase):
        return "-" if phases is None else f"{phases[phase][0]:.0f}"
    lines.append(f"| **total (wall)** | **{total(sono, 'forward')}** | **{total(torch_phases, 'forward')}** | "
                 f"**{total(sono, 'train_step')}** | **{total(torch_phases, 'train_step')}** |")
    lines.append("")
    lines.append(f"PyTorch {torch_version} (fp32 eager, NCHW, the official model). Load average before/after: "
                 f"{args.load_before} / {open('/proc/loadavg').read().split()[0:3]}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sono", default=os.path.join(REPO, "build", "sono"))
    ap.add_argument("--encoder", default="efficientnet-b4")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--task", default="cardiac_multi", choices=sorted(TASK_KEYS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write both engines' per-family figures here")
    ap.add_argument("--verbose", action="store_true", help="show sono profile's per-entry listing")
    args = ap.parse_args()
    args.load_before = open("/proc/loadavg").read().split()[0:3]
    sono = run_sono(args)
    try:
        torch_phases, version = run_torch(args)
    except ImportError as e:
        print(f"PyTorch side skipped: {e} (run with the reference venv's python)", file=sys.stderr)
        torch_phases, version = None, "n/a"
    print(table(sono, torch_phases, args, version))
    if args.verbose:
        for phase, (wall, fam, entries) in sono.items():
            print(f"\nSono {phase}: top entries")
            for e in entries[:25]:
                print(f"  {e['name']:44s} {e['calls']:5d} calls {e['ms']:9.2f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sono": {k: v[1] for k, v in sono.items()},
                       "torch": None if torch_phases is None else {k: v[1] for k, v in torch_phases.items()}},
                      f, indent=1)


if __name__ == "__main__":
    main()
