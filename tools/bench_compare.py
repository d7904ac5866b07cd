"""Sono and PyTorch side by side, on one machine, in one run, with the physical floor.

    tools/bench_compare.sh [options]     builds sono_bench, runs this with .venv-ref's python
    python tools/bench_compare.py --sono-bench BUILD/bench/sono_bench [options]

For each workload (whole model: eval forward and training step per task type;
per-op workloads, OPS: the model's convs, fused ops and losses at its shapes)
it times, alternating engine by engine:
  * PyTorch fp32 eager, NCHW: the official code path (tools/reference/mhmtl.py)
  * PyTorch channels_last + bf16 autocast
  * PyTorch torch.compile, where the installed torch has it ("n/a" and why otherwise)
  * Sono: sono_bench with --benchmark_filter, one process per workload
and reports medians of repeated timings after warm-up, with fixed thread counts
(torch.set_num_threads(N) and OMP_NUM_THREADS=N for Sono), plus PyTorch at its
default thread count for one workload (docs/reference-model.md 10 does the same).

The floor: the machine's peak FLOP/s (an fp32 FMA-throughput loop on the CPU, cuBLAS FP32 on
a GPU) and copy bandwidth (STREAM copy / triad) are measured by sono_bench in
the same run; each whole-model workload gets its FLOPs (2 * MACs forward,
3x that for a training step; a conv row, from its shape: conv_amounts) and a
minimum-bytes estimate (see floor_bytes), and the fraction of both floors
each engine reaches. tools/test_bench_compare.py checks the OPS rows.

--contention: every workload is timed a second time beside a fixed background
load (one process spinning on one core, started and stopped by this script),
alternated with the quiet timing in the same round, and each engine's
slowdown factor (loaded / quiet) is reported side by side (PyTorch eager).

Writes bench/results/<cpu|gpu>-<machine>-<date>.{json,md} and prints the table.
Torch is optional: without it (or without a CUDA torch on a GPU machine) the
PyTorch columns say why and Sono is still timed. Details: docs/benchmarks.md.
"""
import argparse
import copy
import ctypes
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

# Idle OpenMP threads sleep instead of spinning (a busy shared machine makes
# spinning threads 5-10x slower); set for torch (before it loads libgomp) and
# passed to sono_bench (whose own threads, core/parallel.h, sleep when idle anyway).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = {"seg": "cardiac_multi", "cls": "organ_cls", "det": "thyroid_nodule_det", "reg": "IUGC"}
MODEL_MODES = ("fwd", "train")
VARIANTS = ("eager", "cl_bf16", "compile")
VARIANT_TITLES = {"eager": "PyTorch fp32 eager", "cl_bf16": "PyTorch CL+bf16", "compile": "torch.compile"}


# ---- small helpers ------------------------------------------------------------

def run_text(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def median_ms(samples_s):
    return statistics.median(samples_s) * 1e3 if samples_s else None


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v and abs(v) < 10 ** -digits:
        return f"{v:.2g}"  # a microsecond op is not "0.0" ms
    return f"{v:.{digits}f}" if abs(v) < 1e5 else f"{v:.3g}"


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class PeakRss:
    """Peak resident-set growth of this process over one region (the method
    sono_bench uses for the CPU: trim malloc, reset VmHWM, read it after)."""

    def __init__(self):
        self.base = None
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.base = self._field("VmRSS")
        except OSError:
            pass

    @staticmethod
    def _field(name):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def peak_bytes(self):
        return None if self.base is None else max(0, self._field("VmHWM") - self.base)


# ---- machine facts ------------------------------------------------------------

def machine_facts():
    lscpu = run_text(["lscpu"])
    field = lambda name: next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith(name + ":")), "?")
    facts = {
        "cpu_model": field("Model name"),
        "cpus": os.cpu_count(),
        "cores_per_socket": field("Core(s) per socket"),
        "threads_per_core": field("Thread(s) per core"),
        "sockets": field("Socket(s)"),
        "hypervisor": field("Hypervisor vendor"),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "gpu": None,
    }
    if shutil.which("nvidia-smi"):
        q = run_text(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
        if q:
            facts["gpu"] = q.splitlines()[0]
    return facts


def machine_kind(facts, device):
    if device == "cuda" and facts["gpu"]:
        return "gpu-" + slug(facts["gpu"].split(",")[0])
    model = slug(facts["cpu_model"].replace("(R)", "").replace("(TM)", "")) or "unknown"
    return f"cpu-{model}-{facts['cpus']}c"


def sono_commit():
    commit = run_text(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = run_text(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])
    return commit + ("+uncommitted" if dirty else "")


# ---- Sono: sono_bench in a subprocess -----------------------------------------

class Sono:
    def __init__(self, path, threads, encoder, size, cpu_batch, cuda_batch):
        self.path = path
        self.env = dict(os.environ, OMP_NUM_THREADS=str(threads), SONO_BENCH_ENCODER=encoder,
                        SONO_BENCH_SIZE=str(size), SONO_BENCH_BATCH=str(cpu_batch),
                        SONO_BENCH_CUDA_BATCH=str(cuda_batch))
        self.names = run_text([path, "--benchmark_list_tests"]).splitlines()

    def has(self, prefix):
        return any(n.startswith(prefix) for n in self.names)

    def run(self, prefix, repetitions, fixed_iterations=None, min_time=None):
        """Runs the one benchmark whose name starts with `prefix`; returns
        {"samples_s": per-repetition times, "counters": medians, "error": str|None}."""
        env = dict(self.env)
        if fixed_iterations:
            env["SONO_BENCH_ITERS"] = str(fixed_iterations)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            out_path = f.name
        cmd = [self.path, "--benchmark_filter=^" + re.escape(prefix), f"--benchmark_repetitions={repetitions}",
               f"--benchmark_out={out_path}", "--benchmark_out_format=json", "--benchmark_format=console"]
        if min_time:
            cmd.append(f"--benchmark_min_time={min_time}")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        try:
            with open(out_path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {"benchmarks": []}
        finally:
            os.unlink(out_path)
        runs = [b for b in data.get("benchmarks", []) if b.get("run_type") == "iteration"]
        errors = [b.get("error_message", "error") for b in runs if b.get("error_occurred")]
        if proc.returncode != 0 or errors or not runs:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"samples_s": [], "counters": {}, "counters_max": {}, "error": errors[0] if errors else tail[0]}
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
        samples = [b["real_time"] * scale[b.get("time_unit", "ns")] for b in runs]
        skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations",
                "real_time", "cpu_time", "time_unit", "family_index", "per_family_instance_index", "aggregate_name",
                "aggregate_unit", "error_occurred", "error_message"}
        counters, best = {}, {}
        for key in runs[0]:
            if key not in skip and isinstance(runs[0][key], (int, float)):
                values = [b[key] for b in runs if key in b]
                counters[key], best[key] = statistics.median(values), max(values)
        # Rate x time per iteration gives back the per-iteration amount exactly (it is constant).
        for rate, amount in (("GB/s", "bytes_per_iter"), ("GFLOP/s", "flops_per_iter")):
            if rate in runs[0]:
                counters[amount] = runs[0][rate] * 1e9 * runs[0]["real_time"] * scale[runs[0].get("time_unit", "ns")]
        return {"samples_s": samples, "counters": counters, "counters_max": best, "error": None}


# ---- PyTorch ------------------------------------------------------------------

class Torch:
    """The official model (tools/reference/mhmtl.py) and the per-op equivalents."""

    def __init__(self, encoder, size, threads):
        import torch
        import torch.nn.functional as F
        sys.path.insert(0, os.path.join(REPO, "tools", "reference"))
        import mhmtl
        self.torch, self.F, self.mhmtl = torch, F, mhmtl
        self.default_threads = torch.get_num_threads()
        self.threads = threads
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.size = size
        self.base_model = mhmtl.MultiTaskModel(encoder)
        self.models = {}  # (device, variant) -> (model, optimizer)
        self.cuda = torch.cuda.is_available()

    def versions(self):
        import segmentation_models_pytorch as smp
        v = {"torch": self.torch.__version__, "segmentation_models_pytorch": smp.__version__,
             "torch_num_threads": self.torch.get_num_threads(), "torch_default_threads": self.default_threads,
             "torch_interop_threads": self.torch.get_num_interop_threads(),
             "torch_cuda": self.torch.version.cuda if self.cuda else None}
        try:
            v["onednn"] = ".".join(str(x) for x in self.torch.backends.mkldnn.version()) if hasattr(
                self.torch.backends.mkldnn, "version") else "enabled" if self.torch.backends.mkldnn.is_available() else "off"
        except Exception:
            v["onednn"] = "?"
        return v

    def unavailable(self, device, variant):
        """None when the variant can run on device, else the reason."""
        if device == "cuda" and not self.cuda:
            return "PyTorch CUDA unavailable (this torch is CPU-only)"
        if variant == "compile" and not hasattr(self.torch, "compile"):
            return f"n/a: torch {self.torch.__version__} has no torch.compile (added in 2.0)"
        return None

    def model(self, device, variant):
        key = (device, variant)
        if key not in self.models:
            m = copy.deepcopy(self.base_model).to(device)
            if variant == "cl_bf16":
                m = m.to(memory_format=self.torch.channels_last)
            opt = self.mhmtl.build_optimizer(m, include_decoder=True)  # Sono's default recipe trains the decoder
            run_model = self.torch.compile(m) if variant == "compile" else m
            self.models[key] = (m, run_model, opt)
        return self.models[key]

    def sync(self, device):
        if device == "cuda":
            self.torch.cuda.synchronize()

    def autocast(self, device, variant):
        if variant == "cl_bf16":
            return self.torch.autocast(device_type=device, dtype=self.torch.bfloat16)
        return self.torch.autocast(device_type=device, enabled=False)

    def inputs(self, device, task_key, batch, variant):
        torch = self.torch
        g = torch.Generator().manual_seed(7)
        s = self.size
        x = torch.randn(batch, 3, s, s, generator=g)
        task_type, n = self.mhmtl.TASKS[TASKS[task_key]]
        if task_key == "seg":
            target = torch.randint(0, n, (batch, s, s), generator=g)
        elif task_key == "cls":
            target = torch.randint(0, n, (batch,), generator=g)
        elif task_key == "det":
            x0 = 0.6 * torch.rand(batch, 2, generator=g)
            target = torch.cat([x0, x0 + 0.1 + 0.3 * torch.rand(batch, 2, generator=g)], 1)
        else:
            target = torch.rand(batch, 2 * n, generator=g)
        x, target = x.to(device), target.to(device)
        if variant == "cl_bf16":
            x = x.contiguous(memory_format=torch.channels_last)
        return x, target

    def model_step(self, device, variant, mode, task_key, batch):
        """A function running one workload iteration, and a check of its result."""
        torch = self.torch
        model, run_model, opt = self.model(device, variant)
        task_id = TASKS[task_key]
        x, target = self.inputs(device, task_key, batch, variant)
        if mode == "fwd":
            model.eval()

            def step():
                with torch.no_grad(), self.autocast(device, variant):
                    return run_model(x, task_id)
        else:
            model.train()

            def step():
                opt.zero_grad(set_to_none=True)
                with self.autocast(device, variant):
                    loss = self.mhmtl.task_loss(task_id, run_model(x, task_id), target)
                loss.backward()
                opt.step()
                return loss
        return step

    def op_step(self, device, op, batch):
        """A function running one iteration of a per-op workload, as the
        official model (or its training step) runs the op."""
        torch, F = self.torch, self.F
        g = torch.Generator().manual_seed(1)
        randn = lambda *shape: torch.randn(*shape, generator=g).to(device)
        name = op["torch"]
        if name in ("conv_fwd", "conv_bwd"):
            return self.conv_step(device, op["conv"], batch, backward=name == "conv_bwd")
        if name == "adamw_model_step":
            return self.adamw_step(device)
        chw = op.get("chw")
        if name in ("batch_norm_train", "bn_silu_train", "bn_silu_eval"):
            c, h, w = chw
            x, gy = randn(batch, c, h, w).requires_grad_(), randn(batch, c, h, w)
            wt, b = randn(c).requires_grad_(), randn(c).requires_grad_()
            rm, rv = torch.zeros(c, device=device), torch.ones(c, device=device)
            # bn_silu: MBConv's BN + swish (nn.SiLU in SMP 0.5's encoders/_efficientnet.py).
            act = (lambda y: y) if name == "batch_norm_train" else F.silu
            if name == "bn_silu_eval":
                def step():
                    with torch.no_grad():
                        return act(F.batch_norm(x, rm, rv, wt, b, training=False, eps=1e-3))
            else:
                def step():
                    act(F.batch_norm(x, rm, rv, wt, b, training=True, momentum=0.01, eps=1e-3)).backward(gy)
                    x.grad = wt.grad = b.grad = None
        elif name in ("group_norm_fwd", "group_norm_fwd_bwd"):
            c, h, w = chw
            x, gy = randn(batch, c, h, w).requires_grad_(), randn(batch, c, h, w)
            wt, b = randn(c).requires_grad_(), randn(c).requires_grad_()
            if name == "group_norm_fwd":
                def step():
                    with torch.no_grad():
                        return F.group_norm(x, 32, wt, b, 1e-5)
            else:
                def step():
                    F.group_norm(x, 32, wt, b, 1e-5).backward(gy)
                    x.grad = wt.grad = b.grad = None
        elif name in ("silu_fwd", "silu_fwd_bwd", "sigmoid_fwd", "sigmoid_fwd_bwd", "softmax_fwd",
                      "softmax_fwd_bwd"):
            fn = {"silu": F.silu, "sigmoid": torch.sigmoid, "softmax": lambda t: F.softmax(t, dim=1)}[name.split("_")[0]]
            x, gy = randn(batch, *chw), randn(batch, *chw)
            if name.endswith("_fwd"):
                def step():
                    with torch.no_grad():
                        return fn(x)
            else:
                x.requires_grad_()

                def step():
                    fn(x).backward(gy)
                    x.grad = None
        elif name == "exp_span":
            # vec_math/exp/vector: one thread on a cache-resident span in [-10, 10]
            # (torch.exp stays on one thread below its 32768-element grain size).
            x = (torch.rand(op["numel"], generator=g) * 20 - 10).to(device)
            y = torch.empty_like(x)

            def step():
                return torch.exp(x, out=y)
        elif name in ("bilinear4x_fwd", "bilinear4x_fwd_bwd"):
            x = randn(batch, *chw)
            size = (chw[1] * 4, chw[2] * 4)
            if name == "bilinear4x_fwd":
                def step():
                    with torch.no_grad():
                        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)
            else:
                x.requires_grad_()
                gy = randn(batch, chw[0], *size)

                def step():
                    F.interpolate(x, size=size, mode="bilinear", align_corners=True).backward(gy)
                    x.grad = None
        elif name in ("dice_fwd", "dice_fwd_bwd"):
            c, h, w = chw
            z = randn(batch, c, h, w).requires_grad_()
            t = torch.randint(0, c, (batch, h, w), generator=g).to(device)
            if name == "dice_fwd":
                def step():
                    with torch.no_grad():
                        return self.mhmtl._dice(z, t)
            else:
                def step():
                    self.mhmtl._dice(z, t).backward()
                    z.grad = None
        elif name in ("se_gate_fwd", "se_gate_fwd_bwd"):
            # MBConv's squeeze-excitation gate: torch.sigmoid(x_squeezed) * x.
            x, s, gy = randn(batch, *chw), randn(batch, chw[0], 1, 1), randn(batch, *chw)
            if name == "se_gate_fwd":
                def step():
                    with torch.no_grad():
                        return torch.sigmoid(s) * x
            else:
                x.requires_grad_()
                s.requires_grad_()

                def step():
                    (torch.sigmoid(s) * x).backward(gy)
                    x.grad = s.grad = None
        elif name in ("drop_connect_add_fwd", "drop_connect_add_fwd_bwd"):
            # SMP's drop_connect (encoders/_efficientnet.py: inputs / keep_prob * binary_tensor),
            # then MBConv's skip connection; the per-sample mask is drawn outside
            # the timing, as sono_bench draws Sono's.
            keep = 1 - op["p"]
            x, r, gy = randn(batch, *chw), randn(batch, *chw), randn(batch, *chw)
            binary = torch.floor(keep + torch.rand(batch, 1, 1, 1, generator=g)).to(device)
            if name == "drop_connect_add_fwd":
                def step():
                    with torch.no_grad():
                        return x / keep * binary + r
            else:
                x.requires_grad_()
                r.requires_grad_()

                def step():
                    (x / keep * binary + r).backward(gy)
                    x.grad = r.grad = None
        else:
            raise ValueError(name)
        return step

    def conv_step(self, device, conv, batch, backward):
        """A convolution as the official model runs it: the encoder's TF-same
        convs as F.pad then an unpadded conv (Conv2dStaticSamePadding), the
        decoder's with the conv's own symmetric padding (SMP 0.5's encoders/_efficientnet.py). The backward is the
        input and weight gradients alone (as Sono's conv2d_bwd), plus for a
        padded encoder conv the pad's backward (autograd's constant_pad_nd
        with the negated pads, a copy)."""
        torch, F = self.torch, self.F
        g = torch.Generator().manual_seed(1)
        randn = lambda *shape: torch.randn(*shape, generator=g).to(device)
        cin, cout, hw, k, s, groups = conv["cin"], conv["cout"], conv["hw"], conv["k"], conv["stride"], conv["groups"]
        before, after = conv["pad"]
        ho = conv_out(conv)
        x, wt, gy = randn(batch, cin, hw, hw), randn(cout, cin // groups, k, k), randn(batch, cout, ho, ho)
        explicit = conv["tf_same"] and (before or after)
        pads = (before, after, before, after)
        conv_pad = 0 if conv["tf_same"] else before
        if not backward:
            def step():
                with torch.no_grad():
                    return F.conv2d(F.pad(x, pads) if explicit else x, wt, stride=s, padding=conv_pad, groups=groups)
            return step
        xp = F.pad(x, pads) if explicit else x  # the forward's padded input, kept for backward
        negated = tuple(-p for p in pads)

        def step():
            gx, gw, _ = torch.ops.aten.convolution_backward(gy, xp, wt, None, [s, s], [conv_pad, conv_pad], [1, 1],
                                                            False, [0, 0], groups, [True, True, False])
            return (F.pad(gx, negated) if explicit else gx), gw
        return step

    def adamw_step(self, device):
        """torch.optim.AdamW's step over every parameter of the official model
        (mhmtl.build_optimizer with the decoder, as the model workloads), each
        with a gradient; torch 1.13's CPU default is the per-tensor loop."""
        torch = self.torch
        model = copy.deepcopy(self.base_model).to(device)
        opt = self.mhmtl.build_optimizer(model, include_decoder=True)
        g = torch.Generator().manual_seed(11)
        for group in opt.param_groups:
            for p in group["params"]:
                p.grad = (torch.randn(p.shape, generator=g) * 0.01).to(device)

        def step():
            opt.step()
        return step

    def time(self, device, step, warmup, repeats, min_sample_s=0.0):
        """Per-sample seconds (a sample averages k runs when one run is shorter
        than min_sample_s), and the peak memory of one run."""
        out = step()
        self.sync(device)
        if out is not None and hasattr(out, "float") and not bool(self.torch.isfinite(out.float()).all()):
            raise RuntimeError("non-finite output")
        for _ in range(max(0, warmup - 1)):
            step()
        self.sync(device)
        if device == "cuda":
            self.torch.cuda.reset_peak_memory_stats()
            before = self.torch.cuda.memory_allocated()
            step()
            self.sync(device)
            peak = self.torch.cuda.max_memory_allocated() - before
        else:
            probe = PeakRss()
            step()
            peak = probe.peak_bytes()
            step()  # pages the probe's trim returned are faulted in here, not in the timing
        t0 = time.perf_counter()
        step()
        self.sync(device)
        once = time.perf_counter() - t0
        k = max(1, int(min_sample_s / once)) if once > 0 else 1
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(k):
                step()
            self.sync(device)
            samples.append((time.perf_counter() - t0) / k)
        return samples, peak

    def floor_model(self, batch_hint=1):
        """Per task key, at batch 1: conv/linear MACs, conv/linear output
        elements (the activations kept for backward), the parameters the
        path uses, input and output elements. Forward hooks on the eval model."""
        torch = self.torch
        model = self.base_model
        model.eval()
        result = {}
        for key, task_id in TASKS.items():
            stats = {"macs": 0, "act_elems": 0, "params": set(), "param_elems": 0}

            def hook(mod, inputs, output, stats=stats):
                for p in mod.parameters(recurse=False):
                    if id(p) not in stats["params"]:
                        stats["params"].add(id(p))
                        stats["param_elems"] += p.numel()
                if isinstance(mod, torch.nn.Conv2d):
                    k = mod.weight.shape[1] * mod.weight.shape[2] * mod.weight.shape[3]
                    stats["macs"] += output.numel() * k
                    stats["act_elems"] += output.numel()
                elif isinstance(mod, torch.nn.Linear):
                    stats["macs"] += output.numel() * mod.in_features
                    stats["act_elems"] += output.numel()

            # Every module: SMP's same-padding convs are Conv2d subclasses with a child (the pad).
            handles = [m.register_forward_hook(hook) for m in model.modules()]
            with torch.no_grad():
                out = model(torch.zeros(1, 3, self.size, self.size), task_id)
            for h in handles:
                h.remove()
            result[key] = {"macs": stats["macs"], "act_elems": stats["act_elems"], "param_elems": stats["param_elems"],
                           "in_elems": 3 * self.size * self.size, "out_elems": out.numel()}
        return result


# ---- the floor ----------------------------------------------------------------

def floor_bytes(fm, mode, batch):
    """Minimum bytes one iteration must move between memory and the cores (f32):
    forward: weights read once + input + output;
    training step: weights read in forward and again in backward, their
      gradients written once, AdamW reading p, g, m, v and writing p, m, v
      (10 x weights in all), the input, and every conv/linear output written in
      forward and read back in backward (BN, activations, SE gates, resizes
      and adds can be recomputed from them and per-channel vectors)."""
    w = 4 * fm["param_elems"]
    per_image_io = 4 * (fm["in_elems"] + fm["out_elems"])
    if mode == "fwd":
        return w + batch * per_image_io
    return 10 * w + batch * (per_image_io + 2 * 4 * fm["act_elems"])


def floor_flops(fm, mode, batch):
    return 2 * fm["macs"] * batch * (3 if mode == "train" else 1)


def floor_fractions(ms, flops, nbytes, peaks):
    if not ms or not peaks.get("gflops") or not peaks.get("gbs"):
        return None
    s = ms * 1e-3
    return {"gflops": flops / s * 1e-9 if flops else None, "gbs": nbytes / s * 1e-9,
            "compute_fraction": flops / s * 1e-9 / peaks["gflops"] if flops else None,
            "memory_fraction": nbytes / s * 1e-9 / peaks["gbs"]}


def stored_floor_model(results_dir, encoder, size):
    """The floor model of an earlier results file (for machines without torch)."""
    try:
        names = sorted(os.listdir(results_dir), reverse=True)
    except OSError:
        return None, None
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(results_dir, name)) as f:
                r = json.load(f)
        except (OSError, ValueError):
            continue
        s = r.get("settings", {})
        if s.get("encoder") == encoder and s.get("size") == size and r.get("floor_model"):
            return r["floor_model"], name
    return None, None


# ---- workloads ----------------------------------------------------------------

# Key per-op workloads: the Sono benchmark name (after "<family>/<device>/", or
# the whole "prefix" of a device-less benchmark) and the torch equivalent
# (Torch.op_step), at the model's shapes. "cpu_only" rows are compared on the
# CPU at batch 2 (the default --batch).

def conv(cin, cout, hw, k, stride=1, pad=(0, 0), depthwise=False, tf_same=True):
    """A conv2d workload: square input hw x hw, pads (before, after) on both
    axes; tf_same: an encoder conv (TF-same static pads, applied by F.pad in
    the reference), else a decoder conv (symmetric padding of its own)."""
    return {"cin": cin, "cout": cout, "hw": hw, "k": k, "stride": stride, "pad": pad,
            "groups": cin if depthwise else 1, "tf_same": tf_same}


def conv_out(c):
    return (c["hw"] + sum(c["pad"]) - c["k"]) // c["stride"] + 1


def conv_macs(c, batch):
    return batch * c["cout"] * conv_out(c) ** 2 * (c["cin"] // c["groups"]) * c["k"] ** 2


def conv_amounts(c, batch, backward):
    """(FLOPs, bytes) of one iteration: 2 x MACs forward, twice that for the
    backward (input and weight gradients); the fewest f32 bytes (each input
    read once, each output written once), as bench/bench_conv2d.cpp counts."""
    x = batch * c["cin"] * c["hw"] ** 2
    w = c["cout"] * (c["cin"] // c["groups"]) * c["k"] ** 2
    y = batch * c["cout"] * conv_out(c) ** 2
    flops = (4 if backward else 2) * conv_macs(c, batch)
    return flops, 4 * ((x + w + y + x + w) if backward else (x + w + y))


def conv_rows(title, sono, spec, backward=True):
    """The forward row and, where sono_bench times one, the backward row."""
    rows = []
    for bwd in (False, True) if backward else (False,):
        rows.append({"name": f"conv2d {'bwd' if bwd else 'fwd'} {title}", "family": "conv2d_bwd" if bwd else "conv2d_fwd",
                     "sono": sono, "torch": "conv_bwd" if bwd else "conv_fwd", "conv": spec, "cpu_only": True})
    return rows


OPS = [
    # Dense 3x3 (the FPN decoder and segmentation blocks; Winograd by default, im2col under SONO_CPU_WINOGRAD=0).
    *conv_rows("3x3 256->128 @64", "fpn_3x3_256to128_64", conv(256, 128, 64, 3, pad=(1, 1), tf_same=False)),
    *conv_rows("3x3 256->128 @32", "fpn_3x3_256to128_32", conv(256, 128, 32, 3, pad=(1, 1), tf_same=False)),
    *conv_rows("3x3 128->128 @64", "seg_3x3_128to128_64", conv(128, 128, 64, 3, pad=(1, 1), tf_same=False)),
    # The encoder's (TF-same pads): stem, MBConv expand / project 1x1, depthwise.
    *conv_rows("stem 3x3 s2 3->48 @256", "stem_3x3s2_3to48_256", conv(3, 48, 256, 3, 2, (0, 1))),
    *conv_rows("1x1 expand 32->192 @64", "expand_1x1_32to192_64", conv(32, 192, 64, 1)),
    *conv_rows("1x1 project 192->32 @64", "project_1x1_192to32_64", conv(192, 32, 64, 1)),
    *conv_rows("1x1 expand 160->960 @16", "expand_1x1_160to960_16", conv(160, 960, 16, 1)),
    *conv_rows("dw 3x3 s1 192 @64", "dw_3x3s1_192_64", conv(192, 192, 64, 3, 1, (1, 1), True)),
    *conv_rows("dw 5x5 s1 336 @32", "dw_5x5s1_336_32", conv(336, 336, 32, 5, 1, (2, 2), True)),
    *conv_rows("dw 3x3 s2 144 @128", "dw_3x3s2_144_128", conv(144, 144, 128, 3, 2, (0, 1), True)),
    # blk6: the static pads of the design size 380 (docs/reference-model.md 2.4), not 256's (1, 2).
    *conv_rows("dw 5x5 s2 192 @64", "dw_5x5s2_192_64", conv(192, 192, 64, 5, 2, (2, 2), True)),
    {"name": "batch_norm train fwd+bwd 144x128x128", "family": "batch_norm", "sono": "train_fwd_bwd/144x128x128",
     "torch": "batch_norm_train", "chw": (144, 128, 128)},
    {"name": "batch_norm+silu train fwd+bwd 144x128x128", "family": "batch_norm_silu",
     "sono": "fused/train_fwd_bwd/144x128x128", "torch": "bn_silu_train", "chw": (144, 128, 128)},
    {"name": "batch_norm+silu eval fwd 144x128x128", "family": "batch_norm_silu", "sono": "fused/eval_fwd/144x128x128",
     "torch": "bn_silu_eval", "chw": (144, 128, 128)},
    {"name": "se_gate fwd 192x64x64", "family": "se_gate", "sono": "fused/fwd/192x64x64", "torch": "se_gate_fwd",
     "chw": (192, 64, 64)},
    {"name": "se_gate fwd+bwd 192x64x64", "family": "se_gate", "sono": "fused/fwd_bwd/192x64x64",
     "torch": "se_gate_fwd_bwd", "chw": (192, 64, 64)},
    {"name": "drop_connect+add fwd 24x128x128", "family": "drop_connect_add", "sono": "fused/fwd/24x128x128",
     "torch": "drop_connect_add_fwd", "chw": (24, 128, 128), "p": 0.2},
    {"name": "drop_connect+add fwd+bwd 24x128x128", "family": "drop_connect_add", "sono": "fused/fwd_bwd/24x128x128",
     "torch": "drop_connect_add_fwd_bwd", "chw": (24, 128, 128), "p": 0.2},
    {"name": "group_norm fwd 128x64x64", "family": "group_norm", "sono": "fwd/128x64x64", "torch": "group_norm_fwd",
     "chw": (128, 64, 64)},
    {"name": "group_norm fwd+bwd 128x64x64", "family": "group_norm", "sono": "fwd_bwd/128x64x64",
     "torch": "group_norm_fwd_bwd", "chw": (128, 64, 64)},
    {"name": "silu fwd 144x128x128", "family": "silu", "sono": "fwd/144x128x128", "torch": "silu_fwd",
     "chw": (144, 128, 128)},
    {"name": "silu fwd+bwd 144x128x128", "family": "silu", "sono": "fwd_bwd/144x128x128", "torch": "silu_fwd_bwd",
     "chw": (144, 128, 128)},
    {"name": "sigmoid fwd 144x128x128", "family": "sigmoid", "sono": "fwd/144x128x128", "torch": "sigmoid_fwd",
     "chw": (144, 128, 128)},
    {"name": "sigmoid fwd+bwd 144x128x128", "family": "sigmoid", "sono": "fwd_bwd/144x128x128",
     "torch": "sigmoid_fwd_bwd", "chw": (144, 128, 128)},
    # One thread, cache-resident: the math's speed; bytes = read + write of the span.
    {"name": "exp 16384 floats, 1 thread", "prefix": "vec_math/exp/vector", "torch": "exp_span", "numel": 16384,
     "batch": 1, "cpu_only": True, "bytes": 2 * 4 * 16384},
    {"name": "bilinear x4 fwd 4x64x64", "family": "upsample", "sono": "fwd/bilinear4x_4x64x64",
     "torch": "bilinear4x_fwd", "chw": (4, 64, 64)},
    {"name": "bilinear x4 fwd+bwd 4x64x64", "family": "upsample", "sono": "fwd_bwd/bilinear4x_4x64x64",
     "torch": "bilinear4x_fwd_bwd", "chw": (4, 64, 64)},
    {"name": "softmax fwd 4x256x256", "family": "softmax", "sono": "fwd/softmax_4x256x256", "torch": "softmax_fwd",
     "chw": (4, 256, 256)},
    {"name": "softmax fwd+bwd 4x256x256", "family": "softmax", "sono": "fwd_bwd/softmax_4x256x256",
     "torch": "softmax_fwd_bwd", "chw": (4, 256, 256)},
    {"name": "dice loss fwd 4x256x256", "family": "loss", "sono": "fwd/dice_4x256x256", "torch": "dice_fwd",
     "chw": (4, 256, 256)},
    {"name": "dice loss fwd+bwd 4x256x256", "family": "loss", "sono": "fwd_bwd/dice_4x256x256",
     "torch": "dice_fwd_bwd", "chw": (4, 256, 256)},
    # Every parameter of the model (all heads) with a gradient: Sono's AdamW::step, torch.optim.AdamW.step.
    {"name": "adamw step, all model parameters", "family": "adamw", "sono": "model_step", "torch": "adamw_model_step",
     "batch": 1},
]


def workloads(devices, args):
    out = []
    for device in devices:
        batch = args.batch if device == "cpu" else args.cuda_batch
        for mode in MODEL_MODES:
            batches = [batch] + ([1] if device == "cuda" and mode == "fwd" and batch != 1 else [])
            for b in batches:
                for key in TASKS:
                    out.append({"name": f"model {mode} {key}", "kind": "model", "device": device, "batch": b,
                                "mode": mode, "task": key, "sono": f"model/{device}/{mode}/{key}/batch:{b}/"})
        for op in OPS:
            if op.get("cpu_only") and device != "cpu":
                continue
            b = op.get("batch", 2 if op.get("cpu_only") else batch)
            prefix = op.get("prefix") or f"{op['family']}/{device}/{op['sono']}/"
            out.append({"name": op["name"], "kind": "op", "device": device, "batch": b, "op": op, "sono": prefix})
    if args.only:
        out = [w for w in out if re.search(args.only, f"{w['device']} {w['name']}")]
    return out


# ---- the run ------------------------------------------------------------------

def measure_peaks(sono, devices, reps):
    """A peak is the best repetition (a floor is what the machine can reach)."""
    def best(prefix, counter):
        r = sono.run(prefix, reps)
        return r["counters_max"].get(counter), r["error"]

    peaks = {}
    if "cpu" in devices:
        gflops, err = best("peak/cpu/fma/", "GFLOP/s")
        sgemm, _ = best("sgemm/M:1024/N:1024/K:1024/", "GFLOP/s")
        copy_gbs, err2 = best("peak/cpu/copy/", "GB/s")
        triad_gbs, err3 = best("peak/cpu/triad/", "GB/s")
        peaks["cpu"] = {"gflops": gflops, "gflops_source": "fp32 FMA throughput, all threads (peak/cpu/fma)",
                        "sgemm_gflops": sgemm, "copy_gbs": copy_gbs, "triad_gbs": triad_gbs,
                        "error": err or err2 or err3}
    if "cuda" in devices:
        gflops, err = best("peak/cuda/sgemm/", "GFLOP/s")
        tf32, _ = best("peak/cuda/tf32gemm/", "GFLOP/s")
        copy_gbs, err2 = best("peak/cuda/copy/", "GB/s")
        peaks["cuda"] = {"gflops": gflops, "gflops_source": "cuBLAS 8192^3 strict FP32", "tf32_gflops": tf32,
                         "copy_gbs": copy_gbs, "error": err or err2}
    for p in peaks.values():
        p["gbs"] = max([v for v in (p.get("copy_gbs"), p.get("triad_gbs")) if v] or [0]) or None
    return peaks


class BackgroundLoad:
    """A fixed competing load for --contention: one process spinning on one
    core (affinity pinned), as a compile job or another user would hold it.
    Started and stopped around each loaded measurement."""

    SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"

    def __init__(self, cpu):
        self.cpu, self.proc = cpu, None

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", self.SPIN, str(self.cpu)])
        time.sleep(0.5)  # on its core before the timing starts
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()
        return False


def contention_rows(results):
    """Per workload: each engine's median with the background load over its
    median without it (the same round, alternated), and Sono's factor over
    PyTorch's (<= 1: Sono slows down no more than PyTorch)."""
    quiet = {(r["device"], r["name"], r["batch"]): r for r in results if not r.get("loaded")}
    rows = []
    for r in results:
        if not r.get("loaded"):
            continue
        q = quiet.get((r["device"], r["name"], r["batch"]))
        if not q:
            continue
        sq, sl = q["sono"].get("median_ms"), r["sono"].get("median_ms")
        pq, pl = q["pytorch"]["eager"].get("median_ms"), r["pytorch"]["eager"].get("median_ms")
        so = sl / sq if sq and sl else None
        pt = pl / pq if pq and pl else None
        rows.append({"device": r["device"], "name": r["name"], "batch": r["batch"], "sono_quiet_ms": sq,
                     "sono_loaded_ms": sl, "sono_slowdown": so, "pytorch_quiet_ms": pq, "pytorch_loaded_ms": pl,
                     "pytorch_slowdown": pt, "sono_over_pytorch": so / pt if so and pt else None})
    return rows


def run_workload(w, torch_side, sono, args):
    device = w["device"]
    op = w.get("op", {})
    res = {"name": w["name"], "device": device, "batch": w["batch"], "kind": w["kind"], "pytorch": {},
           "load_before": os.getloadavg()[0], "op_bytes": op.get("bytes")}
    if op.get("conv"):
        res["op_flops"], res["op_bytes"] = conv_amounts(op["conv"], w["batch"], op["torch"] == "conv_bwd")
    model = w["kind"] == "model"
    for variant in VARIANTS:
        if not model and variant != "eager":
            res["pytorch"][variant] = {"na": "model workloads only"}
            continue
        if args.contention and variant != "eager":
            res["pytorch"][variant] = {"na": "eager only in --contention mode"}
            continue
        reason = "PyTorch not importable" if torch_side is None else torch_side.unavailable(device, variant)
        if reason:
            res["pytorch"][variant] = {"na": reason}
            continue
        try:
            if model:
                step = torch_side.model_step(device, variant, w["mode"], w["task"], w["batch"])
            else:
                step = torch_side.op_step(device, w["op"], w["batch"])
            samples, peak = torch_side.time(device, step, args.warmup, args.repeats, 0.0 if model else 0.2)
            res["pytorch"][variant] = {"median_ms": median_ms(samples), "samples_ms": [s * 1e3 for s in samples],
                                       "peak_mib": peak / 2**20 if peak is not None else None}
        except Exception as e:  # one broken variant must not end the comparison
            where = traceback.extract_tb(e.__traceback__)[-1].name
            res["pytorch"][variant] = {"na": f"error in {where}: {type(e).__name__}: {str(e).splitlines()[0][:120]}"}
    s = sono.run(w["sono"], args.repeats, fixed_iterations=1 if model else None, min_time=None if model else 0.2)
    res["sono"] = {"median_ms": median_ms(s["samples_s"]), "samples_ms": [x * 1e3 for x in s["samples_s"]],
                   "counters": s["counters"], "na": s["error"]}
    return res


def merge_rounds(rounds):
    """Samples of the same workload from several alternation rounds, pooled."""
    merged = {}
    for r in rounds:
        key = (r["device"], r["name"], r["batch"], bool(r.get("loaded")))
        if key not in merged:
            merged[key] = copy.deepcopy(r)
            merged[key]["load_before"] = [r["load_before"]]
            continue
        m = merged[key]
        m["load_before"].append(r["load_before"])
        for variant, v in r["pytorch"].items():
            if "samples_ms" in v and "samples_ms" in m["pytorch"][variant]:
                m["pytorch"][variant]["samples_ms"] += v["samples_ms"]
                m["pytorch"][variant]["median_ms"] = statistics.median(m["pytorch"][variant]["samples_ms"])
        if r["sono"]["samples_ms"] and m["sono"]["samples_ms"]:
            m["sono"]["samples_ms"] += r["sono"]["samples_ms"]
            m["sono"]["median_ms"] = statistics.median(m["sono"]["samples_ms"])
    return list(merged.values())


def add_floor(res, floor_model, peaks):
    dev_peaks = peaks.get(res["device"], {})
    if res["kind"] == "model":
        key = res["name"].split()[-1]
        mode = res["name"].split()[1]
        fm = (floor_model or {}).get(key)
        if not fm:
            return
        flops, nbytes = floor_flops(fm, mode, res["batch"]), floor_bytes(fm, mode, res["batch"])
    elif res.get("op_flops"):
        # A conv row: FLOPs and bytes from its shape (conv_amounts), so that
        # PyTorch gets its rate when Sono has none; sono_bench counts the same.
        flops, nbytes = res["op_flops"], res["op_bytes"]
        sono_flops = res["sono"]["counters"].get("flops_per_iter")
        if sono_flops and abs(sono_flops / flops - 1) > 1e-3:
            print(f"bench_compare: {res['name']}: sono_bench counts {sono_flops:.4g} FLOPs, the shape "
                  f"{flops:.4g}", file=sys.stderr)
            res["flops_mismatch"] = sono_flops
    else:
        # Memory-bound ops: sono_bench's GB/s counts the op's minimum bytes
        # (an explicit "bytes" in OPS where the benchmark has no GB/s).
        c = res["sono"]["counters"]
        if not res["sono"]["median_ms"]:
            return
        flops = c.get("flops_per_iter", 0)
        nbytes = c.get("bytes_per_iter") or res["op_bytes"]
        if not nbytes:
            return
    res["floor"] = {"flops": flops, "bytes": nbytes,
                    "sono": floor_fractions(res["sono"]["median_ms"], flops, nbytes, dev_peaks),
                    "pytorch": floor_fractions(res["pytorch"].get("eager", {}).get("median_ms"), flops, nbytes,
                                               dev_peaks)}
    if dev_peaks.get("gflops") and dev_peaks.get("gbs"):
        res["floor"]["time_ms"] = max(flops / (dev_peaks["gflops"] * 1e9), nbytes / (dev_peaks["gbs"] * 1e9)) * 1e3


# ---- report -------------------------------------------------------------------

def pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(report):
    lines = []
    m, v, t = report["machine"], report["versions"], report["threads"]
    lines.append(f"# Sono vs PyTorch: {report['kind']} {report['date']}\n")
    lines.append(f"* machine: {m['cpu_model']}, {m['cpus']} CPUs ({m['cores_per_socket']} cores/socket, "
                 f"{m['threads_per_core']} thread/core, hypervisor {m['hypervisor']}), {m['memory_gib']} GiB"
                 + (f"; GPU {m['gpu']}" if m.get("gpu") else ""))
    lines.append(f"* versions: Sono {v['sono_commit']}; " + (
        f"torch {v.get('torch')} (oneDNN {v.get('onednn')}), SMP {v.get('segmentation_models_pytorch')}"
        if v.get("torch") else f"PyTorch: {v.get('torch_error')}") + f"; Python {v['python']}")
    lines.append(f"* threads: torch.set_num_threads({t['torch']}) (interop {t.get('torch_interop')}), "
                 f"Sono OMP_NUM_THREADS={t['sono']}, OMP_WAIT_POLICY={t['omp_wait_policy']} for both; "
                 f"torch's default is {t.get('torch_default')}")
    la = report["load_average"]
    lines.append(f"* load average (1 min): {la['start']:.2f} at start, {la['end']:.2f} at end, "
                 f"{la['min']:.2f}..{la['max']:.2f} before the workloads"
                 + (" -- the machine was busy: treat ratios as indicative" if la["max"] > report["cpus_for_load"] else ""))
    s = report["settings"]
    lines.append(f"* settings: {s['encoder']} at {s['size']}x{s['size']}, CPU batch {s['batch']}, CUDA batch "
                 f"{s['cuda_batch']}; {s['warmup']} warm-up + {s['repeats']} timed runs per engine and round, "
                 f"{s['rounds']} round(s), median of all samples")
    for dev, p in report["peaks"].items():
        lines.append(f"* {dev} floor: {fmt(p.get('gflops'))} GFLOP/s ({p.get('gflops_source')}), "
                     f"{fmt(p.get('gbs'))} GB/s (copy {fmt(p.get('copy_gbs'))}, triad {fmt(p.get('triad_gbs'))})"
                     + (f", TF32 {fmt(p.get('tf32_gflops'))} GFLOP/s" if p.get("tf32_gflops") else "")
                     + (f", OpenBLAS sgemm 1024^3 {fmt(p.get('sgemm_gflops'))} GFLOP/s" if p.get("sgemm_gflops") else ""))
    if report.get("floor_model_source"):
        lines.append(f"* floor model: {report['floor_model_source']}")
    lines.append("")
    lines.append("Times are milliseconds per iteration (the whole batch), medians. Sono/PyTorch < 1: Sono faster.\n")
    lines.append("| device | workload | batch | PyTorch fp32 eager | PyTorch CL+bf16 | torch.compile | Sono | "
                 "Sono/PyTorch | Sono/best | Sono img/s | Sono peak MiB | PyTorch peak MiB |")
    lines.append("| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    notes = {}

    def cell(entry):
        if "na" in entry and entry.get("median_ms") is None:
            reason = entry["na"] or "n/a"
            n = notes.setdefault(reason, len(notes) + 1)
            return f"n/a [{n}]"
        return fmt(entry.get("median_ms"))

    for r in report["workloads"]:
        eager = r["pytorch"]["eager"].get("median_ms")
        best = min((x["median_ms"] for x in r["pytorch"].values() if x.get("median_ms")), default=None)
        so = r["sono"].get("median_ms")
        c = r["sono"]["counters"]
        lines.append("| " + " | ".join([
            r["device"], r["name"], str(r["batch"]), cell(r["pytorch"]["eager"]), cell(r["pytorch"]["cl_bf16"]),
            cell(r["pytorch"]["compile"]), cell(r["sono"]),
            fmt(so / eager, 2) if so and eager else "-", fmt(so / best, 2) if so and best else "-",
            fmt(c.get("images_per_s"), 2) if r["kind"] == "model" else "-",
            fmt(c.get("peak_MiB"), 0) if r["kind"] == "model" else "-",
            fmt(r["pytorch"]["eager"].get("peak_mib"), 0) if r["kind"] == "model" else "-"]) + " |")
    if notes:
        lines.append("")
        for reason, n in notes.items():
            lines.append(f"[{n}] {reason}  ")
    dt = report.get("pytorch_default_threads")
    if dt:
        lines.append("")
        lines.append(f"PyTorch at its default thread count ({dt['threads']}): {dt['name']} batch {dt['batch']}: "
                     f"{fmt(dt.get('median_ms'))} ms (vs {fmt(dt.get('set_threads_ms'))} ms at "
                     f"{t['torch']} threads){' -- ' + dt['na'] if dt.get('na') else ''}")
    c = report.get("contention")
    if c:
        lines.append("")
        lines.append(f"## Contention\n\nEach workload timed without and with {c['load']}, alternated in the same "
                     "run; slowdown = loaded / quiet median. Sono/PyTorch slowdown <= 1: Sono holds up as well as "
                     "PyTorch.\n")
        lines.append("| device | workload | batch | Sono quiet | Sono loaded | Sono slowdown | PyTorch quiet | "
                     "PyTorch loaded | PyTorch slowdown | Sono/PyTorch slowdown |")
        lines.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in c["rows"]:
            lines.append("| " + " | ".join([
                r["device"], r["name"], str(r["batch"]), fmt(r["sono_quiet_ms"]), fmt(r["sono_loaded_ms"]),
                fmt(r["sono_slowdown"], 2), fmt(r["pytorch_quiet_ms"]), fmt(r["pytorch_loaded_ms"]),
                fmt(r["pytorch_slowdown"], 2), fmt(r["sono_over_pytorch"], 2)]) + " |")
    lines.append("")
    lines.append("## Floor\n")
    lines.append("FLOPs: 2 x conv/linear MACs per image (forward), 3x that for a training step; a conv2d row: "
                 "2 x its MACs (per its groups and stride), twice that for a backward (input and weight gradients); "
                 "the other per-op rows are memory-bound (no FLOPs counted). Bytes: the minimum-traffic model of "
                 "docs/benchmarks.md (per-op rows: each input read once, each output written once). Floor time = "
                 "max(FLOPs / peak FLOP/s, bytes / copy bandwidth). % = achieved rate / peak rate (a per-op row whose data "
                 "stays in the last-level cache can pass 100% of the memory bandwidth; a Winograd conv, counted by "
                 "its direct FLOPs, can pass 100% of compute).\n")
    lines.append("| device | workload | batch | GFLOP/iter | MB/iter | floor ms | Sono GFLOP/s | Sono % compute | "
                 "Sono % memory | PyTorch GFLOP/s | PyTorch % compute | PyTorch % memory |")
    lines.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in report["workloads"]:
        f = r.get("floor")
        if not f:
            continue
        so, pt = f.get("sono") or {}, f.get("pytorch") or {}
        lines.append("| " + " | ".join([
            r["device"], r["name"], str(r["batch"]), fmt(f["flops"] * 1e-9 if f["flops"] else None, 2),
            fmt(f["bytes"] * 1e-6, 1),
            fmt(f.get("time_ms"), 2), fmt(so.get("gflops")), pct(so.get("compute_fraction")),
            pct(so.get("memory_fraction")), fmt(pt.get("gflops")), pct(pt.get("compute_fraction")),
            pct(pt.get("memory_fraction"))]) + " |")
    mismatched = [r for r in report["workloads"] if r.get("flops_mismatch")]
    if mismatched:
        lines.append("")
        lines.append("FLOPs from the shape differ from sono_bench's count: " + ", ".join(
            f"{r['name']} ({fmt(r['flops_mismatch'] * 1e-9, 3)} GFLOP in sono_bench)" for r in mismatched))
    return "\n".join(lines) + "\n"


def print_table(report):
    print()
    """Milliseconds per iteration; 'floor/Sono' = floor time / Sono's time."""
    print(f"{'device':6} {'workload':42} {'batch':>5} {'torch eager':>12} {'torch CL+bf16':>14} {'Sono':>10} "
          f"{'Sono/PyTorch':>12} {'floor/Sono':>10}")
    for r in report["workloads"]:
        e = r["pytorch"]["eager"].get("median_ms")
        b = r["pytorch"]["cl_bf16"].get("median_ms")
        s = r["sono"].get("median_ms")
        floor_ms = (r.get("floor") or {}).get("time_ms")
        print(f"{r['device']:6} {r['name']:42} {r['batch']:>5} {fmt(e):>12} {fmt(b):>14} "
              f"{fmt(s) if s else 'n/a':>10} {fmt(s / e, 2) if s and e else '-':>12} "
              f"{pct(floor_ms / s) if floor_ms and s else '-':>10}")
    c = report.get("contention")
    if c:
        print(f"\ncontention ({c['load']}): slowdown = loaded / quiet median")
        print(f"{'device':6} {'workload':42} {'Sono':>8} {'PyTorch':>8} {'Sono/PyTorch':>12}")
        for r in c["rows"]:
            print(f"{r['device']:6} {r['name']:42} {fmt(r['sono_slowdown'], 2):>8} {fmt(r['pytorch_slowdown'], 2):>8} "
                  f"{fmt(r['sono_over_pytorch'], 2):>12}")


# ---- main ---------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sono-bench", default=os.path.join(REPO, "build-bench", "bench", "sono_bench"),
                    help="the sono_bench program (default build-bench/bench/sono_bench)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda", "all"], default="auto",
                    help="auto: cpu, plus cuda when sono_bench has CUDA benchmarks and nvidia-smi sees a GPU")
    ap.add_argument("--encoder", default="efficientnet-b4")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=2, help="CPU batch (docs/reference-model.md 10 uses 2)")
    ap.add_argument("--cuda-batch", type=int, default=20, help="CUDA batch (the forward also runs at 1)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads and Sono's OMP_NUM_THREADS")
    ap.add_argument("--warmup", type=int, default=2, help="untimed PyTorch runs before timing (Sono: 3, see bench_model)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per engine per round")
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternation rounds over all workloads; samples of all rounds are pooled")
    ap.add_argument("--only", help="regex over '<device> <workload name>' (e.g. 'cpu model fwd')")
    ap.add_argument("--no-default-threads", action="store_true",
                    help="skip PyTorch at its default thread count (model fwd seg; ~10x slower on Debian torch)")
    ap.add_argument("--contention", action="store_true",
                    help="time every workload also beside a background load on one core (started and stopped here) "
                         "and report each engine's slowdown factor; PyTorch eager only")
    ap.add_argument("--load-cpu", type=int, default=0, help="the core the --contention load spins on")
    ap.add_argument("--out-dir", default=os.path.join(REPO, "bench", "results"))
    ap.add_argument("--name", help="output file name without extension (default <machine kind>-<date>)")
    ap.add_argument("--from-json", metavar="FILE", help="re-render FILE's table and markdown (FILE.md) without running")
    args = ap.parse_args()

    if args.from_json:
        with open(args.from_json) as f:
            report = json.load(f)
        with open(os.path.splitext(args.from_json)[0] + ".md", "w") as f:
            f.write(markdown(report))
        print_table(report)
        return 0
    if not os.access(args.sono_bench, os.X_OK):
        sys.exit(f"bench_compare: {args.sono_bench} not found; build it (tools/bench_compare.sh does)")
    sono = Sono(args.sono_bench, args.threads, args.encoder, args.size, args.batch, args.cuda_batch)
    facts = machine_facts()
    if args.device == "auto":
        devices = ["cpu"] + (["cuda"] if sono.has("model/cuda/") and facts["gpu"] else [])
    elif args.device == "all":
        devices = ["cpu", "cuda"]
    else:
        devices = [args.device]
    if "cuda" in devices and not sono.has("model/cuda/"):
        print("bench_compare: sono_bench was built without CUDA: no Sono CUDA numbers", file=sys.stderr)

    load_start = os.getloadavg()[0]
    versions = {"sono_commit": sono_commit(), "python": platform.python_version()}
    torch_side = None
    try:
        torch_side = Torch(args.encoder, args.size, args.threads)
        versions.update(torch_side.versions())
    except Exception as e:  # no torch on this machine: Sono alone
        versions["torch_error"] = f"PyTorch not importable ({type(e).__name__}: {e})"
        print(f"bench_compare: {versions['torch_error']}; timing Sono only", file=sys.stderr)

    floor_model, floor_source = None, None
    if torch_side is not None:
        floor_model = torch_side.floor_model()
        floor_source = "forward hooks on the official model (tools/reference/mhmtl.py), this run"
    else:
        floor_model, stored = stored_floor_model(args.out_dir, args.encoder, args.size)
        if floor_model:
            floor_source = f"taken from {stored} (no torch here)"

    print(f"bench_compare: measuring the floors ({', '.join(devices)})", file=sys.stderr)
    peaks = measure_peaks(sono, devices, args.repeats)
    todo = workloads(devices, args)
    rounds = []
    for rnd in range(args.rounds):
        for i, w in enumerate(todo):
            print(f"bench_compare: round {rnd + 1}/{args.rounds} [{i + 1}/{len(todo)}] {w['device']} {w['name']} "
                  f"batch {w['batch']}", file=sys.stderr)
            rounds.append(run_workload(w, torch_side, sono, args))
            if args.contention:
                with BackgroundLoad(args.load_cpu):
                    loaded = run_workload(w, torch_side, sono, args)
                loaded["loaded"] = True
                rounds.append(loaded)
    results = merge_rounds(rounds)
    for r in results:
        if not r.get("loaded"):
            add_floor(r, floor_model, peaks)
    contention = contention_rows(results) if args.contention else None
    results = [r for r in results if not r.get("loaded")]

    default_threads = None
    if torch_side is not None and "cpu" in devices and not args.no_default_threads:
        seg = next((r for r in results if r["device"] == "cpu" and r["name"] == "model fwd seg"), None)
        default_threads = {"name": "model fwd seg", "batch": args.batch, "threads": torch_side.default_threads,
                           "set_threads_ms": seg["pytorch"]["eager"].get("median_ms") if seg else None}
        print(f"bench_compare: PyTorch at its default {torch_side.default_threads} thread(s)", file=sys.stderr)
        try:
            torch_side.torch.set_num_threads(torch_side.default_threads)
            step = torch_side.model_step("cpu", "eager", "fwd", "seg", args.batch)
            samples, _ = torch_side.time("cpu", step, 1, min(3, args.repeats))
            default_threads["median_ms"] = median_ms(samples)
        except Exception as e:
            default_threads["na"] = f"error: {e}"
        finally:
            torch_side.torch.set_num_threads(args.threads)

    loads = [x for r in results for x in r["load_before"]]
    date = datetime.date.today().isoformat()
    kind = machine_kind(facts, "cuda" if "cuda" in devices else "cpu")
    report = {
        "kind": kind, "date": date, "time_utc": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": facts, "versions": versions, "cpus_for_load": os.cpu_count(),
        "threads": {"torch": args.threads, "sono": args.threads,
                    "torch_default": torch_side.default_threads if torch_side else None,
                    "torch_interop": versions.get("torch_interop_threads"),
                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")},
        "load_average": {"start": load_start, "end": os.getloadavg()[0], "min": min(loads or [load_start]),
                         "max": max(loads or [load_start])},
        "settings": {"encoder": args.encoder, "size": args.size, "batch": args.batch, "cuda_batch": args.cuda_batch,
                     "warmup": args.warmup, "repeats": args.repeats, "rounds": args.rounds, "devices": devices},
        "peaks": peaks, "floor_model": floor_model, "floor_model_source": floor_source,
        "workloads": results, "pytorch_default_threads": default_threads,
        "contention": contention and {"load": f"one process spinning on CPU {args.load_cpu}", "rows": contention},
    }
    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir, args.name or f"{kind}-{date}")
    with open(base + ".json", "w") as f:
        json.dump(report, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(markdown(report))
    print_table(report)
    print(f"\nbench_compare: wrote {base}.json and {base}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
