"""Ways to predict per-GPU all-to-all latency for a traffic matrix, given calibrated parameters.

- MoesimPredictor: the product. Writes the matrix as CSV, runs `moesim replay --matrix FILE
  --platform FILE --algorithm direct --launch-us .. --overhead-us .. --out DIR` and reads the
  dispatch rows of DIR/replay.h5.
- FluidPredictor: fluid_reference.py, the same semantics in plain numpy; an independent cross-check
  and the tool for asking "what would a richer platform model buy" without touching the simulator.

A calibration (`moesim calibrate`'s JSON) holds:
  platform: preset, links_per_gpu, link_bandwidth_Bps, bandwidth_factor, latency_s, and optionally
            duplex_bandwidth_Bps (node.duplex_bandwidth), flow_bandwidth_Bps (node.nvswitch.flow_bandwidth),
            bandwidth_factors: [[message bytes, factor], ...] (calibration.bandwidth_factors)
  replay:   algorithm, launch_latency_s, per_message_overhead_s
"""
import os
import shutil
import subprocess
import tempfile

import numpy as np

import fluid_reference


def format_bandwidth(Bps):
    return f"{Bps / 1e9:.6g}GBps"


def format_latency(s):
    return f"{s * 1e6:.6g}us"


def platform_yaml(cal, source_note):
    p = cal["platform"]
    lines = [
        f"# Written by analysis/studies/validation/predictors.py from a `moesim calibrate` JSON: {source_note}",
        "# link_bandwidth = measured peer copy bandwidth / links per GPU (what one GPU's NVLinks carry);",
    ]
    if p.get("bandwidth_factors"):
        lines += [
            "# duplex_bandwidth = 2 x the per-GPU rate (each way) of the largest uniform all-to-all, where every",
            "# GPU sends and receives at once; bandwidth_factors = that rate at each uniform size / the largest's,",
            "# by message size (bytes per GPU pair); latency = the preset's (see README.md).",
        ]
    else:
        lines += [
            "# bandwidth_factor = NCCL's per-GPU all-to-all bandwidth fitted on the uniform matrices / that copy",
            "# bandwidth; latency = the preset's (not identifiable from uniform matrices, see README.md).",
        ]
    lines += [
        f"# Replay options that go with it: --algorithm {cal['replay']['algorithm']} "
        f"--launch-us {cal['replay']['launch_latency_s'] * 1e6:.6g} "
        f"--overhead-us {cal['replay']['per_message_overhead_s'] * 1e6:.6g}",
        f"name: {p['preset']}-calibrated",
        f"description: {p['preset']} calibrated on measured NCCL all-to-all (analysis/studies/validation)",
        f"extends: {p['preset']}",
        "node:",
    ]
    if p.get("duplex_bandwidth_Bps"):
        lines.append(f"  duplex_bandwidth: {format_bandwidth(p['duplex_bandwidth_Bps'])}")
    if p.get("local_copy_bandwidth_Bps"):
        lines.append(f"  local_copy_bandwidth: {format_bandwidth(p['local_copy_bandwidth_Bps'])}")
    lines += [
        "  nvswitch:",
        f"    links_per_gpu: {p['links_per_gpu']}",
        f"    link_bandwidth: {format_bandwidth(p['link_bandwidth_Bps'])}",
        f"    latency: {format_latency(p['latency_s'])}",
    ]
    if p.get("flow_bandwidth_Bps"):
        lines.append(f"    flow_bandwidth: {format_bandwidth(p['flow_bandwidth_Bps'])}")
    lines += ["calibration:", f"  source: \"{source_note}\"", f"  bandwidth_factor: {p['bandwidth_factor']:.6g}"]
    if p.get("bandwidth_factors"):
        lines.append("  bandwidth_factors:")
        lines += [f"    - {{message_size: {int(b)}B, factor: {f:.6g}}}" for b, f in p["bandwidth_factors"]]
    lines.append("")
    return "\n".join(lines)


def factor_of_size(platform):
    """The per-flow bandwidth factor by message bytes, as topologies/ computes it (CalibrationSpec::
    bandwidth_factor_for): bandwidth_factor x the table, linear in log(size), held beyond the ends."""
    scalar, table = platform["bandwidth_factor"], platform.get("bandwidth_factors") or []
    if not table:
        return None
    sizes = np.log([b for b, _ in table])
    factors = np.array([f for _, f in table])

    def factor(message_bytes):
        return scalar * float(np.interp(np.log(message_bytes), sizes, factors))
    return factor


class FluidPredictor:
    name = "fluid"

    def __init__(self, cal):
        p, r = cal["platform"], cal["replay"]
        self.factor_of = factor_of_size(p)
        nominal_Bps = p["links_per_gpu"] * p["link_bandwidth_Bps"]
        # One factor for all sizes: scale the capacities (the same as SimGrid's weighting by 1/factor).
        self.egress_Bps = nominal_Bps * (p["bandwidth_factor"] if self.factor_of is None else 1.0)
        self.duplex_Bps = p.get("duplex_bandwidth_Bps") or None
        self.pair_Bps = p.get("flow_bandwidth_Bps") or None
        if self.factor_of is None:
            self.duplex_Bps = self.duplex_Bps and self.duplex_Bps * p["bandwidth_factor"]
            self.pair_Bps = self.pair_Bps and self.pair_Bps * p["bandwidth_factor"]
        self.latency_s = p["latency_s"]
        self.launch_s = r["launch_latency_s"]
        self.overhead_s = r["per_message_overhead_s"]

    def per_gpu_s(self, matrix_bytes):
        return fluid_reference.direct_alltoall(matrix_bytes, self.egress_Bps, latency_s=self.latency_s,
                                               launch_s=self.launch_s, overhead_s=self.overhead_s,
                                               pair_Bps=self.pair_Bps, duplex_Bps=self.duplex_Bps,
                                               factor_of=self.factor_of)


class MoesimPredictor:
    name = "moesim"

    def __init__(self, cal, moesim_bin, workdir=None, source_note="in-memory calibration"):
        self.moesim = moesim_bin
        self.cal = cal
        self.dir = workdir or tempfile.mkdtemp(prefix="moesim-validation-")
        os.makedirs(self.dir, exist_ok=True)
        self.platform_file = os.path.join(self.dir, "platform.yaml")
        with open(self.platform_file, "w") as f:
            f.write(platform_yaml(cal, source_note))
        self.count = 0

    def command(self, matrix_file, out_dir):
        r = self.cal["replay"]
        return [self.moesim, "replay", "--matrix", matrix_file, "--platform", self.platform_file,
                "--algorithm", r["algorithm"], "--launch-us", f"{r['launch_latency_s'] * 1e6:.9g}",
                "--overhead-us", f"{r['per_message_overhead_s'] * 1e6:.9g}", "--no-balanced", "--quiet",
                "--out", out_dir]

    def per_gpu_s(self, matrix_bytes):
        m = np.asarray(matrix_bytes, dtype=np.int64)
        self.count += 1
        matrix_file = os.path.join(self.dir, f"matrix{self.count}.csv")
        out_dir = os.path.join(self.dir, f"replay{self.count}")
        with open(matrix_file, "w") as f:
            f.write("# bytes, rows = source GPU, columns = destination GPU\n")
            for row in m:
                f.write(",".join(str(int(v)) for v in row) + "\n")
        cmd = self.command(matrix_file, out_dir)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[:2000]}")
        finish = read_dispatch_finish(os.path.join(out_dir, "replay.h5"), m.shape[0])
        os.remove(matrix_file)
        shutil.rmtree(out_dir, ignore_errors=True)
        return finish


def read_dispatch_finish(path, gpus):
    """Per-GPU (finish - start) of the dispatch all-to-all in `moesim replay --out`'s replay.h5."""
    import h5py   # only the moesim path needs it (Debian: python3-h5py)
    with h5py.File(path, "r") as f:
        g = f["gpu"]
        phase, gpu = g["phase"][()], g["gpu"][()]
        elapsed = g["finish_s"][()] - g["start_s"][()]
    finish = np.full(gpus, np.nan)
    for p, k, t in zip(phase, gpu, elapsed):
        if p == 0:
            finish[int(k)] = float(t)
    if np.isnan(finish).any():
        raise RuntimeError(f"{path}: no dispatch row for every GPU")
    return finish
