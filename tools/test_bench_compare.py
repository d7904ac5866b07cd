"""Checks of tools/bench_compare.py's per-op rows (ctest "tools: bench_compare per-op rows").

    python tools/test_bench_compare.py --sono-bench BUILD/bench/sono_bench

* every OPS row names a benchmark sono_bench has (on the CPU);
* each conv row's FLOPs and bytes (conv_amounts, from the shape) equal what
  sono_bench counts for it (one iteration of each);
* with torch (the reference venv): each conv row's pads are those of the
  official B4 model's convs of that kind (SMP's static TF-same pads, or the
  decoder's padding); each conv row's torch step (F.pad + conv,
  the backward with the pad's backward) gives the output / gradients of
  autograd through the reference formulation in float64, at the shape
  conv_out says; every other torch op step runs once with a finite result.
Exit 0: all passed; 1: a failure (each one printed); 77: skipped (no
sono_bench, or no torch: then the sono_bench checks ran and passed, the
torch checks did not run).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_compare as bc  # noqa: E402

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def sono_checks(sono):
    for op in bc.OPS:
        prefix = op.get("prefix") or f"{op['family']}/cpu/{op['sono']}/"
        check(sono.has(prefix), f"sono_bench has {prefix} ({op['name']})")
    for op in bc.OPS:
        if not op.get("conv") or not sono.has(f"{op['family']}/cpu/{op['sono']}/"):
            continue
        r = sono.run(f"{op['family']}/cpu/{op['sono']}/", 1, fixed_iterations=1)
        flops, nbytes = bc.conv_amounts(op["conv"], 2, op["torch"] == "conv_bwd")
        c = r["counters"]
        got_f, got_b = c.get("flops_per_iter", 0), c.get("bytes_per_iter", 0)
        check(r["error"] is None and abs(got_f / flops - 1) < 1e-6 and abs(got_b / nbytes - 1) < 1e-6,
              f"{op['name']}: sono_bench counts {got_f:.6g} FLOPs, {got_b:.6g} B; the shape {flops:.6g}, {nbytes:.6g}"
              + (f" ({r['error']})" if r["error"] else ""))


def torch_checks():
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        # The format tools/test.sh reports skips by (tests/support/main.cpp's).
        print(f"[sono] 1 test case skipped\nMESSAGE: skipped: bench_compare torch checks: torch not importable ({e})")
        return False
    torch.set_num_threads(1)
    check_pads(torch, side_model=bc.Torch("efficientnet-b4", 64, 1).base_model)
    side = bc.Torch("efficientnet-b0", 64, 1)  # small: only the AdamW row uses the model
    for op in bc.OPS:
        c = op.get("conv")
        if c:
            check_conv(torch, F, side, op, c)
            continue
        step = side.op_step("cpu", op, 1)
        out = step()
        finite = True
        if isinstance(out, torch.Tensor):
            finite = bool(torch.isfinite(out).all())
        check(finite, f"{op['name']}: the torch step runs" + ("" if finite else " (non-finite output)"))
    return True


def check_pads(torch, side_model):
    """Each conv row's pads against the official model's convs with its
    channels, kernel, stride and groups (encoder: the static ZeroPad2d that
    SMP computed for the design size; decoder: the conv's own padding)."""
    for op in bc.OPS:
        c = op.get("conv")
        if not c or op["torch"] != "conv_fwd":
            continue
        part = side_model.encoder if c["tf_same"] else side_model.fpn_decoder
        found = set()
        for m in part.modules():
            if not isinstance(m, torch.nn.Conv2d) or (m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0],
                                                      m.groups) != (c["cin"], c["cout"], c["k"], c["stride"],
                                                                    c["groups"]):
                continue
            if not c["tf_same"]:
                found.add((m.padding[0], m.padding[0]))
                continue
            pad = getattr(m, "static_padding", None)
            left, right, top, bottom = pad.padding if isinstance(pad, torch.nn.ZeroPad2d) else (0, 0, 0, 0)
            found.add((top, bottom) if (left, right) == (top, bottom) else ("asymmetric", left, right, top, bottom))
        check(found == {tuple(c["pad"])}, f"{op['name']}: pads {c['pad']}, the official model's: {sorted(found)}")


def check_conv(torch, F, side, op, c):
    backward = op["torch"] == "conv_bwd"
    got = side.conv_step("cpu", c, 1, backward)()
    # The inputs conv_step draws, again, in float64 through autograd.
    g = torch.Generator().manual_seed(1)
    ho = bc.conv_out(c)
    x = torch.randn(1, c["cin"], c["hw"], c["hw"], generator=g).double().requires_grad_()
    w = torch.randn(c["cout"], c["cin"] // c["groups"], c["k"], c["k"], generator=g).double().requires_grad_()
    gy = torch.randn(1, c["cout"], ho, ho, generator=g).double()
    before, after = c["pad"]
    if c["tf_same"]:  # SMP's Conv2dStaticSamePadding
        y = F.conv2d(F.pad(x, (before, after, before, after)), w, stride=c["stride"], groups=c["groups"])
    else:
        y = F.conv2d(x, w, stride=c["stride"], padding=before, groups=c["groups"])
    if backward:
        y.backward(gy)
        pairs = [("dx", got[0], x.grad), ("dw", got[1], w.grad)]
    else:
        pairs = [("y", got, y)]
    for what, a, b in pairs:
        same_shape = tuple(a.shape) == tuple(b.shape)
        err = (a.double() - b).abs().max().item() / max(1.0, b.abs().max().item()) if same_shape else float("nan")
        check(same_shape and err < 1e-5, f"{op['name']}: torch {what} {tuple(a.shape)} vs autograd "
                                          f"{tuple(b.shape)}, relative error {err:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sono-bench", required=True)
    args = ap.parse_args()
    if not os.access(args.sono_bench, os.X_OK):
        print(f"[sono] 1 test case skipped\nMESSAGE: skipped: bench_compare: {args.sono_bench} not built")
        return 77
    sono = bc.Sono(args.sono_bench, 1, "efficientnet-b0", 64, 2, 2)
    sono_checks(sono)
    torch_ran = torch_checks()
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("all passed" if torch_ran else "the sono_bench checks passed; skipped: the torch checks")
    return 0 if torch_ran else 77


if __name__ == "__main__":
    sys.exit(main())
