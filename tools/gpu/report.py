"""The tables of the GPU run's summary (tools/gpu/run.sh), from the raw
results of its steps; any of them may be missing or partial (a step skipped,
failed or was cut by the deadline), and the cells then say why.

    report.py throughput --sono-fp32 J --sono-tf32 J --sono-bf16 J --sono-fwd-tf32 J --sono-fwd-bf16 J
                         --torch ROWS --md OUT --json OUT
        Sono's training step per task type (`sono bench --per-task --json`,
        fp32, tf32, bf16) and eval forward (sono_bench's model/cuda/fwd JSON,
        tf32, bf16) beside PyTorch's official model (tools/gpu/torch_bench.py
        model rows, train and fwd), images/s, peak memory and the ratios.
    report.py floors --sono-bench J --torch ROWS --md OUT --json OUT
        The GPU's ceilings measured in the run (copy bandwidth; fp32, tf32 and
        bf16 GEMM, by sono_bench's peak/cuda/* and torch_bench.py floors) and
        each per-op CUDA benchmark (sono_bench <op>/cuda/*) against them.
Standard library only.
"""
import argparse
import json
import os

TYPE_KEYS = {"segmentation": "seg", "classification": "cls", "detection": "det", "regression": "reg"}
TASK_KEYS = ("seg", "cls", "det", "reg")


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f), None
    except FileNotFoundError:
        return None, "not run"
    except (OSError, ValueError) as e:
        return None, f"unreadable ({type(e).__name__})"


def load_rows(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass  # a line cut by a kill
    except OSError:
        return [], "not run"
    return rows, None


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.{digits}f}"


def isnum(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def ratio(a, b):
    return a / b if isnum(a) and isnum(b) and b else None


def sono_by_type(path):
    """{task key: {images_per_s, peak_mib, id}} of the first task of each type, or (None, why)."""
    data, why = load_json(path)
    if data is None:
        return {}, why
    out = {}
    for t in data.get("tasks", []):
        key = TYPE_KEYS.get(t.get("type", "").lower())
        if key and key not in out:
            out[key] = {"images_per_s": t.get("images_per_s"), "peak_mib": t.get("peak_mib"), "id": t.get("id"),
                        "batch": t.get("batch")}
    return out, None


def sono_bench_by_type(path, mode):
    """{task key: {images_per_s, peak_mib, id}} of sono_bench's model/cuda/<mode>/<key>/batch:B runs, or (None, why)."""
    data, why = load_json(path)
    if data is None:
        return {}, why
    out = {}
    for b in data.get("benchmarks", []):
        parts = b.get("name", "").split("/")
        if b.get("run_type", "iteration") != "iteration" or parts[:3] != ["model", "cuda", mode] or len(parts) < 5:
            continue
        batch = int(parts[4].split(":")[-1]) if parts[4].split(":")[-1].isdigit() else 0
        if parts[3] in out and out[parts[3]]["batch"] > batch:
            continue  # the largest batch of each task (the latency runs at batch 1 are not compared)
        if b.get("error_occurred"):
            out[parts[3]] = {"error": b.get("error_message", "error"), "batch": batch}
        else:
            out[parts[3]] = {"images_per_s": b.get("images_per_s"), "peak_mib": b.get("peak_MiB"), "id": parts[3],
                             "batch": batch}
    return out, None


def throughput(args):
    # Sono: (mode, precision) -> per-type results; `sono bench --per-task` for
    # the training step, sono_bench's model workloads for the forward.
    sono, reasons = {}, {}
    for prec, path in (("fp32", args.sono_fp32), ("tf32", args.sono_tf32), ("bf16", args.sono_bf16)):
        sono[("train", prec)], reasons[("train", prec)] = sono_by_type(path)
    for prec, path in (("tf32", args.sono_fwd_tf32), ("bf16", args.sono_fwd_bf16)):
        sono[("fwd", prec)], reasons[("fwd", prec)] = sono_bench_by_type(path, "fwd")
    rows, torch_why = load_rows(args.torch)
    torch = {}
    for r in rows:
        if r.get("kind") == "model":
            torch[(r.get("mode", "train"), r["variant"], r["task"])] = r
    env = next((r for r in rows if r.get("kind") == "env"), {})

    def torch_cell(mode, variant, task):
        r = torch.get((mode, variant, task))
        if r is None:
            return None, torch_why or env.get("reason") or "not measured"
        if r.get("status") != "ok":
            return None, f"{r.get('status')}: {r.get('reason')}"
        return r, None

    def sono_cell(mode, prec, task):
        s = sono[(mode, prec)].get(task)
        if s is None:
            return None, reasons[(mode, prec)] or "not measured"
        if "error" in s:
            return None, s["error"]
        return s, None

    def table_rows(mode, sono_precs):
        table = []
        for task in TASK_KEYS:
            row = {"task": task}
            for prec in sono_precs:
                s, why = sono_cell(mode, prec, task)
                row[f"sono_{prec}"] = s["images_per_s"] if s else why
                row[f"sono_{prec}_peak_mib"] = s["peak_mib"] if s else None
                row[f"sono_{prec}_task"] = s["id"] if s else None
            for variant in ("fp32", "tf32", "bf16_cl"):
                t, why = torch_cell(mode, variant, task)
                row[f"torch_{variant}"] = t["images_per_s"] if t else why
                row[f"torch_{variant}_peak_mib"] = t.get("peak_mib") if t else None
            for prec in sono_precs:
                for variant in ("fp32", "tf32", "bf16_cl"):
                    row[f"sono_{prec}_over_torch_{variant}"] = ratio(row[f"sono_{prec}"], row[f"torch_{variant}"])
            best_sono = max((v for v in (row[f"sono_{p}"] for p in sono_precs) if isnum(v)), default=None)
            best_torch = max((v for v in (row["torch_fp32"], row["torch_tf32"], row["torch_bf16_cl"]) if isnum(v)),
                             default=None)
            row["sono_best_over_torch_best"] = ratio(best_sono, best_torch)
            table.append(row)
        return table

    train = table_rows("train", ("fp32", "tf32", "bf16"))
    fwd = table_rows("fwd", ("tf32", "bf16"))
    notes = {}

    def cell(v, digits=1):
        if isinstance(v, str):
            n = notes.setdefault(v, len(notes) + 1)
            return f"n/a [{n}]"
        return fmt(v, digits)

    # (title, row key, digits): images/s cells may hold a reason instead (None digits).
    def render(title, table, columns):
        out = [title, "", "| task | " + " | ".join(c[0] for c in columns) + " |", "|---|" + "---:|" * len(columns)]
        for r in table:
            out.append("| " + " | ".join([r["task"]] + [cell(r[k]) if d is None else fmt(r[k], d)
                                                         for _, k, d in columns]) + " |")
        return out + [""]

    torch_cols = [("PyTorch fp32 (TF32 off)", "torch_fp32", None), ("PyTorch TF32", "torch_tf32", None),
                  ("PyTorch bf16+CL", "torch_bf16_cl", None)]
    lines = render("## Throughput: B4 training step, batch 20, 256x256 (images/s; ratio > 1: Sono faster)", train,
                   [("Sono fp32", "sono_fp32", None), ("Sono tf32", "sono_tf32", None), ("Sono bf16", "sono_bf16", None)]
                   + torch_cols +
                   [("Sono/PyTorch fp32", "sono_fp32_over_torch_fp32", 2),
                    ("Sono/PyTorch tf32", "sono_tf32_over_torch_tf32", 2),
                    ("Sono bf16/PyTorch bf16+CL", "sono_bf16_over_torch_bf16_cl", 2),
                    ("Sono tf32/PyTorch fp32", "sono_tf32_over_torch_fp32", 2),
                    ("Sono best/PyTorch best", "sono_best_over_torch_best", 2),
                    ("Sono fp32 peak MiB", "sono_fp32_peak_mib", 0), ("Sono bf16 peak MiB", "sono_bf16_peak_mib", 0),
                    ("PyTorch fp32 peak MiB", "torch_fp32_peak_mib", 0)])
    tasks = ", ".join(f"{r['task']} {r['sono_fp32_task'] or r['sono_tf32_task'] or r['sono_bf16_task'] or '-'}"
                      for r in train)
    lines.append(f"Sono: `sono bench --per-task --precision fp32|tf32|bf16` on a phantom dataset (tasks {tasks}); "
                 "PyTorch: the official model (tools/reference/mhmtl.py) on cardiac_multi, organ_cls, "
                 "thyroid_nodule_det, IUGC. Both: the whole step (zero_grad, forward, loss, backward, AdamW), "
                 "median of the timed steps.")
    lines.append("")
    lines += render("## Throughput: B4 eval forward, batch 20, 256x256 (images/s; ratio > 1: Sono faster)", fwd,
                    [("Sono tf32", "sono_tf32", None), ("Sono bf16", "sono_bf16", None)] + torch_cols +
                    [("Sono tf32/PyTorch fp32", "sono_tf32_over_torch_fp32", 2),
                     ("Sono tf32/PyTorch tf32", "sono_tf32_over_torch_tf32", 2),
                     ("Sono bf16/PyTorch bf16+CL", "sono_bf16_over_torch_bf16_cl", 2),
                     ("Sono best/PyTorch best", "sono_best_over_torch_best", 2)])
    lines.append("Sono: sono_bench `model/cuda/fwd/<task>/batch:20` (SONO_BENCH_PRECISION=tf32|bf16, the tasks "
                 "above by type), 5 timed iterations after 3 untimed; PyTorch: the official model in eval mode "
                 "under no_grad, median of the timed forwards. "
                 f"PyTorch {env.get('torch', '?')}, cuDNN {env.get('cudnn', '?')}, "
                 f"SMP {env.get('segmentation_models_pytorch', '?')}.")
    if notes:
        lines.append("")
        lines.extend(f"[{n}] {why}  " for why, n in notes.items())
    write(args, "\n".join(lines) + "\n", {"rows": train, "forward_rows": fwd, "torch_env": env})


def floors(args):
    bench, bench_why = load_json(args.sono_bench)
    rows, torch_why = load_rows(args.torch)
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    sono = {}
    for b in (bench or {}).get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        if b.get("error_occurred"):
            sono[b["name"]] = {"error": b.get("error_message", "error")}
            continue
        t = b["real_time"] * scale[b.get("time_unit", "ns")]
        sono[b["name"]] = {"ms": t * 1e3, "gflops": b.get("GFLOP/s"), "gbs": b.get("GB/s"), "seconds": t}

    # Ceilings: the best of what Sono's and PyTorch's probes measured in this run.
    torch_floor = {(r.get("probe"), r.get("dtype")): r for r in rows if r.get("kind") == "floor"}

    def best(*vals):
        vals = [v for v in vals if isinstance(v, (int, float))]
        return max(vals) if vals else None

    def torch_rate(probe, dtype, key, factor):
        r = torch_floor.get((probe, dtype))
        return r[key] * factor if r and r.get("status") == "ok" else None

    def sono_rate(name, key):
        return (sono.get(name) or {}).get(key)

    ceilings = {
        "copy_gbs": best(sono_rate("peak/cuda/copy", "gbs"), torch_rate("copy", "fp32", "gb_per_s", 1)),
        "fp32_gflops": best(sono_rate("peak/cuda/sgemm", "gflops"), torch_rate("gemm", "fp32", "tflop_per_s", 1e3)),
        "tf32_gflops": best(sono_rate("peak/cuda/tf32gemm", "gflops"), torch_rate("gemm", "tf32", "tflop_per_s", 1e3)),
        "bf16_gflops": torch_rate("gemm", "bf16", "tflop_per_s", 1e3),
    }
    why_none = bench_why or ("no CUDA device" if sono and all("error" in v for v in sono.values()) else None)
    lines = ["## Per-op CUDA benchmarks against the floors", "",
             "Ceilings measured in this run (the better of sono_bench peak/cuda/* and torch_bench.py floors):", ""]
    for key, title, unit, div in (("copy_gbs", "device-to-device copy", "GB/s", 1),
                                  ("fp32_gflops", "GEMM 8192^3 strict fp32", "TFLOP/s", 1e3),
                                  ("tf32_gflops", "GEMM 8192^3 tf32", "TFLOP/s", 1e3),
                                  ("bf16_gflops", "GEMM 8192^3 bf16 (PyTorch)", "TFLOP/s", 1e3)):
        v = ceilings[key]
        lines.append(f"- {title}: {fmt(v / div) if v else 'n/a'} {unit}" +
                     ("" if v else f" ({why_none or torch_why or 'not measured'})"))
    lines += ["", "Floor = max(FLOPs / strict-fp32 GEMM rate, bytes / copy bandwidth), the FLOPs and bytes from "
              "the benchmark's own counters; floor/measured = 1 is the ceiling.", "",
              "| benchmark | ms | GFLOP/s | % fp32 GEMM | % tf32 GEMM | GB/s | % copy | floor ms | floor/measured |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    table = []
    ops = {name: r for name, r in sono.items()
           if "/cuda/" in name and not name.startswith(("peak/", "model/"))}
    errors = {r.get("error") for r in ops.values()}
    if ops and len(errors) == 1 and None not in errors:  # one reason for all (no device): one line
        lines.append(f"| all {len(ops)} <op>/cuda/ benchmarks | {errors.pop()} | | | | | | | |")
        ops = {}
    for name, r in ops.items():
        if "error" in r:
            table.append({"name": name, "error": r["error"]})
            lines.append(f"| {name} | {r['error']} | | | | | | | |")
            continue
        flops = r["gflops"] * 1e9 * r["seconds"] if r.get("gflops") else None
        nbytes = r["gbs"] * 1e9 * r["seconds"] if r.get("gbs") else None
        floor_s = max([x for x in (flops / ceilings["fp32_gflops"] / 1e9 if flops and ceilings["fp32_gflops"] else None,
                                   nbytes / ceilings["copy_gbs"] / 1e9 if nbytes and ceilings["copy_gbs"] else None)
                       if x is not None], default=None)
        pct = lambda a, b: f"{100 * a / b:.0f}%" if a and b else "-"
        row = {"name": name, "ms": r["ms"], "gflops": r.get("gflops"), "gbs": r.get("gbs"),
               "floor_ms": floor_s * 1e3 if floor_s else None,
               "floor_over_measured": floor_s / r["seconds"] if floor_s else None}
        table.append(row)
        lines.append("| " + " | ".join([
            name, fmt(r["ms"], 3), fmt(r.get("gflops")), pct(r.get("gflops"), ceilings["fp32_gflops"]),
            pct(r.get("gflops"), ceilings["tf32_gflops"]), fmt(r.get("gbs")), pct(r.get("gbs"), ceilings["copy_gbs"]),
            fmt(row["floor_ms"], 3), fmt(row["floor_over_measured"], 2)]) + " |")
    if not table and not sono:
        lines.append(f"| (none) | {bench_why or 'no <op>/cuda/ benchmark in the results'} | | | | | | | |")
    write(args, "\n".join(lines) + "\n", {"ceilings": ceilings, "benchmarks": table,
                                          "torch_floors": list(torch_floor.values())})


def write(args, md, data):
    with open(args.md, "w") as f:
        f.write(md)
    with open(args.json, "w") as f:
        json.dump(data, f, indent=1)
    print(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["throughput", "floors"])
    ap.add_argument("--sono-fp32", default="")
    ap.add_argument("--sono-tf32", default="")
    ap.add_argument("--sono-bf16", default="")
    ap.add_argument("--sono-fwd-tf32", default="")
    ap.add_argument("--sono-fwd-bf16", default="")
    ap.add_argument("--sono-bench", default="")
    ap.add_argument("--torch", default="")
    ap.add_argument("--md", required=True)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    (throughput if args.what == "throughput" else floors)(args)


if __name__ == "__main__":
    main()
