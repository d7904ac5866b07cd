"""The PyTorch side of the GPU run (tools/gpu/run.sh), one JSON row per
measurement, written (and flushed) as soon as it is taken, so a kill keeps
every finished row.

    torch_bench.py model  --device cuda --rows FILE [--modes train,fwd] [--deadline-s N] ...
        The official model (tools/reference/mhmtl.py, rebuilt with the carried
        segmentation-models-pytorch wheel): one B4 training step (mode train)
        and one eval forward under no_grad (mode fwd) per task type (seg, cls,
        det, reg; the tasks of tools/bench_compare.py) in
          fp32     eager, NCHW, TF32 off for convolutions and matmuls
          tf32     eager, NCHW, TF32 on for both
          bf16_cl  bf16 autocast + channels_last, PyTorch's default precision
        timed with tools/bench_compare.py's method (warm-up, peak memory of one
        step, median of the timed steps, each synchronized).
    torch_bench.py floors --device cuda --rows FILE
        The ceilings of this GPU in the same run: device-to-device copy of
        1 GiB (bytes read + written), cuBLAS 8192^3 GEMM in bf16, strict fp32
        and tf32, on random data, timed with CUDA events, each result checked
        against float64 on a corner.

--wheels DIR --site DIR: pure-Python wheels to unpack into DIR first and put
ahead on sys.path (the GPU image has torch, timm, torchvision but no SMP).
The last line is "RESULT <MEASURED|SKIP|FAIL> <note>" (tools/gpu/run.sh reads
it); without a CUDA device every measurement is a row "skipped: no CUDA
device" and the result is SKIP.
"""
import argparse
import glob
import json
import os
import statistics
import sys
import time
import traceback
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
TASK_KEYS = ("seg", "cls", "det", "reg")
# name -> (bench_compare.Torch variant, precision of fp32 convolutions and matmuls)
MODEL_VARIANTS = {"fp32": ("eager", "ieee"), "tf32": ("eager", "tf32"), "bf16_cl": ("cl_bf16", "default")}


class Rows:
    def __init__(self, path):
        self.f = open(path, "a")
        self.counts = {}

    def write(self, **row):
        row.setdefault("time_utc", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.f.write(json.dumps(row) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())
        status = row.get("status", "")
        if row.get("kind") != "env":
            self.counts[status] = self.counts.get(status, 0) + 1
        print(json.dumps(row), flush=True)


def unpack_wheels(wheels, site):
    """Pure-Python wheels are zip files of the installed tree: unpacking is installing."""
    names = []
    if wheels and site:
        os.makedirs(site, exist_ok=True)
        for whl in sorted(glob.glob(os.path.join(wheels, "*.whl"))):
            with zipfile.ZipFile(whl) as z:
                z.extractall(site)
            names.append(os.path.basename(whl))
        sys.path.insert(0, site)
    return names


class Precision:
    """TF32 for fp32 convolutions (cuDNN) and matmuls (cuBLAS), through the
    torch >= 2.9 fp32_precision settings where present, else allow_tf32."""

    def __init__(self, torch):
        self.torch = torch
        conv = getattr(torch.backends.cudnn, "conv", None)
        self.new_api = conv is not None and hasattr(conv, "fp32_precision")
        try:
            self.defaults = self.read()
        except Exception:
            self.new_api = False
            self.defaults = self.read()

    def read(self):
        b = self.torch.backends
        if self.new_api:
            return {"conv": b.cudnn.conv.fp32_precision, "matmul": b.cuda.matmul.fp32_precision}
        return {"conv": "tf32" if b.cudnn.allow_tf32 else "ieee", "matmul": "tf32" if b.cuda.matmul.allow_tf32 else "ieee"}

    def set(self, mode):
        want = self.defaults if mode == "default" else {"conv": mode, "matmul": mode}
        b = self.torch.backends
        if self.new_api:
            try:
                b.cudnn.conv.fp32_precision = want["conv"]
                b.cuda.matmul.fp32_precision = want["matmul"]
                return dict(self.read(), api="fp32_precision")
            except Exception as e:  # a torch that refuses the new settings: the legacy flags
                print(f"torch_bench: fp32_precision refused ({e}); using allow_tf32", file=sys.stderr)
                self.new_api = False
                want = {k: "tf32" if v == "tf32" else "ieee" for k, v in want.items()}
        b.cudnn.allow_tf32 = want["conv"] == "tf32"
        b.cuda.matmul.allow_tf32 = want["matmul"] == "tf32"
        return dict(self.read(), api="allow_tf32")


def env_row(rows, torch, mode, wheels):
    row = {"kind": "env", "mode": mode, "torch": torch.__version__, "torch_cuda": torch.version.cuda,
           "cuda_available": torch.cuda.is_available(), "wheels": wheels, "python": sys.version.split()[0]}
    try:
        row["cudnn"] = torch.backends.cudnn.version()
    except Exception as e:
        row["cudnn"] = f"? ({e})"
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        row.update(gpu=p.name, capability=f"{p.major}.{p.minor}", memory_gib=round(p.total_memory / 2**30, 1),
                   multiprocessors=p.multi_processor_count)
    try:
        import segmentation_models_pytorch as smp
        row["segmentation_models_pytorch"] = smp.__version__
        row["smp_path"] = os.path.dirname(smp.__file__)
    except Exception as e:
        row["segmentation_models_pytorch"] = f"not importable ({type(e).__name__}: {e})"
    rows.write(**row)
    return row


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds if seconds else None
        self.last = 0.0

    def allows(self, margin=2.0):
        """Another measurement fits when it takes no longer than the last one did."""
        return self.end is None or time.monotonic() + 1.3 * self.last + margin < self.end

    def took(self, seconds):
        self.last = seconds


def run_model(args, rows, torch):
    sys.path.insert(0, TOOLS)
    from bench_compare import Torch  # the official-model workloads and the timing method
    side = Torch(args.encoder, args.size, os.cpu_count() or 1)  # builds the model: checks mhmtl + SMP here too
    precision = Precision(torch)
    cuda = torch.cuda.is_available() and args.device == "cuda"
    deadline = Deadline(args.deadline_s)
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - {"train", "fwd"}:
        raise ValueError(f"--modes: expected a comma-separated list of train and fwd, got '{args.modes}'")
    for variant, (impl, precision_mode) in MODEL_VARIANTS.items():
        for mode, task in ((m, t) for m in modes for t in TASK_KEYS):
            base = {"kind": "model", "mode": mode, "task": task, "variant": variant, "batch": args.batch,
                    "size": args.size, "encoder": args.encoder}
            if not cuda:
                rows.write(**base, status="skipped", reason="no CUDA device")
                continue
            if not deadline.allows():
                rows.write(**base, status="skipped", reason="deadline")
                continue
            t0 = time.monotonic()
            try:
                settings = precision.set(precision_mode)
                step = side.model_step("cuda", impl, mode, task, args.batch)
                samples, peak = side.time("cuda", step, args.warmup, args.repeats)
                ms = statistics.median(samples) * 1e3
                rows.write(**base, status="ok", median_ms=ms, images_per_s=args.batch / (ms / 1e3),
                           peak_mib=peak / 2**20 if peak is not None else None,
                           samples_ms=[s * 1e3 for s in samples], precision=settings,
                           cudnn_benchmark=bool(torch.backends.cudnn.benchmark))
            except Exception as e:
                rows.write(**base, status="error", reason=f"{type(e).__name__}: {e}",
                           trace=traceback.format_exc(limit=3))
                torch.cuda.empty_cache()
            deadline.took(time.monotonic() - t0)
    precision.set("default")


def event_median_ms(torch, fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times), times


def run_floors(args, rows, torch):
    cuda = torch.cuda.is_available() and args.device == "cuda"
    probes = [("copy", None, None), ("gemm", "bf16", "default"), ("gemm", "fp32", "ieee"), ("gemm", "tf32", "tf32")]
    if not cuda:
        for kind, dtype, _ in probes:
            rows.write(kind="floor", probe=kind, dtype=dtype or "fp32", status="skipped", reason="no CUDA device")
        return
    precision = Precision(torch)
    deadline = Deadline(args.deadline_s)
    g = torch.Generator(device="cuda").manual_seed(3)
    for kind, dtype, mode in probes:
        base = {"kind": "floor", "probe": kind, "dtype": dtype or "fp32"}
        if not deadline.allows():
            rows.write(**base, status="skipped", reason="deadline")
            continue
        t0 = time.monotonic()
        try:
            if kind == "copy":
                n = 1 << 28  # 1 GiB of fp32
                src = torch.randn(n, device="cuda", generator=g)
                dst = torch.empty_like(src)
                ms, times = event_median_ms(torch, lambda: dst.copy_(src), 3, 20)
                ok = bool(torch.equal(dst[:4096], src[:4096]))
                rows.write(**base, status="ok" if ok else "error", bytes=2 * 4 * n, median_ms=ms,
                           gb_per_s=2 * 4 * n / (ms * 1e-3) / 1e9, samples_ms=times,
                           reason=None if ok else "copy mismatch")
                del src, dst
            else:
                n = 8192
                settings = precision.set(mode)
                t = torch.bfloat16 if dtype == "bf16" else torch.float32
                a = torch.randn(n, n, device="cuda", generator=g).to(t)
                b = torch.randn(n, n, device="cuda", generator=g).to(t)
                c = torch.empty(n, n, device="cuda", dtype=t)
                ms, times = event_median_ms(torch, lambda: torch.mm(a, b, out=c), 3, 10)
                ref = a[:64].double() @ b[:, :64].double()
                err = float((c[:64, :64].double() - ref).norm() / ref.norm())
                limit = {"bf16": 2e-2, "tf32": 5e-3, "fp32": 1e-5}[dtype]
                ok = err < limit  # NaN fails too
                rows.write(**base, status="ok" if ok else "error", n=n, median_ms=ms,
                           tflop_per_s=2 * n**3 / (ms * 1e-3) / 1e12, samples_ms=times, rel_err=err,
                           precision=settings, reason=None if ok else f"relative error {err:.3g} >= {limit}")
                del a, b, c
            torch.cuda.empty_cache()
        except Exception as e:
            rows.write(**base, status="error", reason=f"{type(e).__name__}: {e}")
        deadline.took(time.monotonic() - t0)
    precision.set("default")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["model", "floors"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--rows", required=True, help="JSON lines file, appended to")
    ap.add_argument("--wheels", help="folder of pure-Python wheels to use")
    ap.add_argument("--site", help="folder to unpack the wheels into")
    ap.add_argument("--deadline-s", type=float, default=0, help="start no measurement that would end after this")
    ap.add_argument("--encoder", default="efficientnet-b4")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--modes", default="train", help="model: comma-separated train (training step), fwd (eval forward)")
    args = ap.parse_args()
    rows = Rows(args.rows)
    wheels = unpack_wheels(args.wheels, args.site)
    try:
        import torch
    except Exception as e:
        rows.write(kind="env", status="skipped", reason=f"torch not importable: {type(e).__name__}: {e}")
        print(f"RESULT SKIP skipped: torch not importable here ({type(e).__name__}: {e})")
        return 0
    env = env_row(rows, torch, args.what, wheels)
    try:
        (run_model if args.what == "model" else run_floors)(args, rows, torch)
    except Exception as e:
        traceback.print_exc()
        print(f"RESULT FAIL {type(e).__name__}: {str(e)[:200]} (smp: {env.get('segmentation_models_pytorch')})")
        return 1
    c = rows.counts
    summary = ", ".join(f"{n} {s}" for s, n in sorted(c.items()))
    if c.get("error"):
        print(f"RESULT FAIL {summary}")
        return 1
    if not c.get("ok"):
        reasons = "no CUDA device" if not torch.cuda.is_available() else "deadline"
        built = ", the official model built on the CPU" if args.what == "model" else ""
        print(f"RESULT SKIP skipped: {reasons} ({summary}; torch {torch.__version__}{built})")
        return 0
    print(f"RESULT MEASURED {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
