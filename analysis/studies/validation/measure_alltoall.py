#!/usr/bin/env python3
"""Measure NCCL all-to-all (torch.distributed.all_to_all_single with per-pair splits) on one node.

What it measures, per traffic matrix M (M[i][j] = bytes GPU i sends to GPU j, diagonal = local copy):
  - per-rank latency of one all_to_all_single: from a start event that every GPU reaches at the same
    time (a tiny all_reduce right before it lines the GPUs' streams up) to that rank's end event;
  - per iteration, the max over ranks (the time the layer waits);
  - median, p10, p90 over >= 50 timed iterations after warm-up, with a host barrier before each one.
Also: `nvidia-smi topo -m`, peer-to-peer copy bandwidth (one pair over sizes, every ordered pair,
one GPU -> all others at once, all others -> one GPU at once), GPU name, driver, NCCL, PyTorch, CUDA.

Matrices: uniform; hot destination; hot source; random skew (seeded log-normal); and routing
matrices from Zipf expert loads with top-k routing and contiguous expert placement (no trace of
the default model existed when this was written). Each pattern is scaled to a list of per-GPU
sizes (mean bytes in one GPU's input buffer, diagonal included), entries rounded to ALIGN_BYTES.

Run (one process per GPU, spawned here):
  NCCL_NVLS_ENABLE=0 python3 measure_alltoall.py --out results/
Test the logic on CPU (gloo, tiny sizes):
  python3 measure_alltoall.py --cpu-test 4 --out /tmp/a2a
Outputs in --out: results.json (everything, raw per-iteration times), measurements.csv (summary),
copy_bandwidth.csv, topo.txt, nccl_debug.log (NCCL INIT/TUNING lines of every rank).
"""
import argparse
import csv
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import time

# NVLink multicast (NVLS) can take the host's GPUs out of service: keep it off, in every child too.
SAFE_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
os.environ.update(SAFE_ENV)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
ALIGN_BYTES = 16                 # every per-pair message is a multiple of this (bf16 tokens are)
SIZES_SKEWED_BYTES = [64 * KiB * 4**k for k in range(7)]          # 64 KiB .. 256 MiB per GPU
SIZES_UNIFORM_BYTES = [64 * KiB * 2**k for k in range(13)]        # denser for calibration
# --calibration-sets: what `moesim calibrate` fits each mechanism on, 4 KiB .. 1 GiB per GPU.
SIZES_CALIBRATION_BYTES = [4 * KiB * 4**k for k in range(10)]     # 4 KiB .. 1 GiB per GPU
HOT_FACTOR = 4.0                 # hot GPU sends / receives this many times a normal pair's share
RANDOM_SIGMA = 1.0               # log-normal sigma of random-skew entries
ZIPF_EXPERTS, ZIPF_TOP_K, ZIPF_TOKENS_PER_GPU = 64, 8, 4096       # OLMoE-like routing shape
SLEEP_CYCLES = 2_000_000         # ~1 ms GPU spin so the host has queued the collective in time
                                 # (a first run with ~100 us let host enqueue time leak into small sizes)


# ----------------------------------------------------------------------------------------------
# Traffic matrices (numpy, deterministic; built once in the parent so every rank sees the same)

def scale_to_size(weights, bytes_per_gpu):
    """Scale a non-negative N x N weight matrix so the mean row sum is bytes_per_gpu; align entries."""
    n = weights.shape[0]
    scaled = weights * (bytes_per_gpu * n / weights.sum())
    return (np.round(scaled / ALIGN_BYTES) * ALIGN_BYTES).astype(np.int64)


def uniform_weights(n, rng):
    return np.ones((n, n))


def hot_destination_weights(n, rng):
    w = np.ones((n, n))
    w[:, 0] = HOT_FACTOR           # every source sends HOT_FACTOR x more to GPU 0
    return w


def hot_source_weights(n, rng):
    w = np.ones((n, n))
    w[0, :] = HOT_FACTOR           # GPU 0 sends HOT_FACTOR x more to everyone
    return w


def random_skew_weights(n, rng):
    return rng.lognormal(mean=0.0, sigma=RANDOM_SIGMA, size=(n, n))


def zipf_routing_weights(n, rng, exponent):
    """Token copies per (source GPU, destination GPU) for top-k routing over Zipf expert popularity.

    Every source GPU routes ZIPF_TOKENS_PER_GPU tokens; each token picks ZIPF_TOP_K distinct experts
    with probability proportional to popularity (Gumbel top-k), popularity ~ 1/rank^exponent over a
    random permutation of experts; experts are placed contiguously (GPU g holds E/n of them).
    """
    experts = ZIPF_EXPERTS
    popularity = 1.0 / np.arange(1, experts + 1) ** exponent
    popularity = popularity[rng.permutation(experts)]
    log_p = np.log(popularity / popularity.sum())
    owner = np.arange(experts) * n // experts                    # contiguous placement
    counts = np.zeros((n, n))
    for src in range(n):
        gumbel = rng.gumbel(size=(ZIPF_TOKENS_PER_GPU, experts))
        chosen = np.argsort(-(log_p + gumbel), axis=1)[:, :ZIPF_TOP_K]  # tokens x k expert ids
        counts[src] = np.bincount(owner[chosen].ravel(), minlength=n)
    return counts


def single_peer_weights(n, rng):
    """GPU 0 sends to GPU 1 only: one flow, no other traffic on either GPU (the per-peer limit)."""
    w = np.zeros((n, n))
    w[0, 1] = 1.0
    return w


def diagonal_only_weights(n, rng):
    """Every GPU copies to itself only (the local copy NCCL makes in the same kernel)."""
    return np.eye(n)


def calibration_sets(n, sizes):
    """The matrices `moesim calibrate` fits the local copy and the per-peer limit on, plus uniform ones
    up to the largest size (the size-dependent efficiency beyond the committed 256 MiB)."""
    sets = [("uniform", "equal bytes to every GPU (diagonal included)", uniform_weights(n, None)),
            ("single_peer", "GPU 0 sends to GPU 1 only", single_peer_weights(n, None)),
            ("diagonal_only", "every GPU copies to itself only", diagonal_only_weights(n, None))]
    return [(name, desc, s, scale_to_size(w, s)) for name, desc, w in sets for s in sizes]


def build_patterns(n, seed):
    """(name, description, weights) for every skewed pattern; seeded, so reruns give the same."""
    rng = np.random.default_rng(seed)
    return [
        ("hot_dst", f"every source sends {HOT_FACTOR}x a normal pair's bytes to GPU 0",
         hot_destination_weights(n, rng)),
        ("hot_src", f"GPU 0 sends {HOT_FACTOR}x a normal pair's bytes to every GPU",
         hot_source_weights(n, rng)),
        ("random_skew_s1", f"log-normal(0,{RANDOM_SIGMA}) entries, seed {seed}", random_skew_weights(n, rng)),
        ("random_skew_s2", f"log-normal(0,{RANDOM_SIGMA}) entries, seed {seed} (second draw)",
         random_skew_weights(n, rng)),
        ("zipf1.0_top8", f"Zipf(1.0) over {ZIPF_EXPERTS} experts, top-{ZIPF_TOP_K}, contiguous placement",
         zipf_routing_weights(n, rng, 1.0)),
        ("zipf1.5_top8", f"Zipf(1.5) over {ZIPF_EXPERTS} experts, top-{ZIPF_TOP_K}, contiguous placement",
         zipf_routing_weights(n, rng, 1.5)),
    ]


def extra_patterns(path, n):
    """Weight matrices from a JSON file {"source": text, "patterns": {name: n x n weights}}, e.g. token
    copies per (source GPU, destination GPU) of a captured trace (see README, default-model matrices)."""
    if not path:
        return []
    spec = json.load(open(path))
    out = []
    for name, w in spec["patterns"].items():
        w = np.asarray(w, dtype=float)
        if w.shape != (n, n):
            sys.exit(f"measure_alltoall: {path}: pattern {name} is {w.shape}, expected {n}x{n}")
        out.append((name, spec.get("source", path), w))
    return out


def build_matrices(n, seed, sizes_uniform, sizes_skewed, extra_path=None, only_extra=False, sizes_calibration=()):
    matrices = [("uniform", "equal bytes to every GPU (diagonal included)", s,
                 scale_to_size(uniform_weights(n, None), s)) for s in sizes_uniform]
    matrices += [m for m in calibration_sets(n, sizes_calibration)
                 if not (m[0] == "uniform" and m[2] in sizes_uniform)]
    patterns = extra_patterns(extra_path, n) if only_extra else build_patterns(n, seed) + extra_patterns(extra_path, n)
    for name, desc, w in patterns:
        matrices += [(name, desc, s, scale_to_size(w, s)) for s in sizes_skewed]
    return matrices


# ----------------------------------------------------------------------------------------------
# Environment record

def run_text(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    except Exception as e:  # a missing tool is recorded, not fatal
        return f"unavailable: {e}"


def environment_record(use_cuda):
    rec = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "host": socket.gethostname(), "python": platform.python_version(),
        "torch": torch.__version__, "cuda_runtime": torch.version.cuda,
        "env": {k: os.environ.get(k) for k in sorted(os.environ) if k.startswith(("NCCL_", "TORCH_SYMM", "NVSHMEM_"))},
    }
    if use_cuda:
        v = torch.cuda.nccl.version()
        rec["nccl"] = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
        rec["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        rec["nvidia_smi_query"] = run_text(["nvidia-smi", "--query-gpu=index,name,driver_version,pci.bus_id,"
                                            "memory.total,clocks.max.sm,clocks.max.mem", "--format=csv"])
        rec["driver"] = run_text(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]).split("\n")[0]
        rec["p2p_access"] = {f"{i}->{j}": torch.cuda.can_device_access_peer(i, j)
                             for i in range(torch.cuda.device_count())
                             for j in range(torch.cuda.device_count()) if i != j}
    return rec


# ----------------------------------------------------------------------------------------------
# Peer-to-peer copy bandwidth (single process, cudaMemcpyPeerAsync through tensor.copy_)

def sync_all(n):
    for d in range(n):
        torch.cuda.synchronize(d)


def host_timed(fn, n, reps, inner):
    """Median seconds of one fn() call: reps samples, each timing `inner` back-to-back calls."""
    samples = []
    for _ in range(reps):
        sync_all(n)
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync_all(n)
        samples.append((time.perf_counter() - t0) / inner)
    return float(np.median(samples))


def pair_copy_seconds(src, dst, reps, inner):
    """Median GPU time of one src->dst copy (events on the source device, queue pre-filled)."""
    dev = src.device
    samples = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        with torch.cuda.device(dev):
            if hasattr(torch.cuda, "_sleep"):
                torch.cuda._sleep(2 * SLEEP_CYCLES)   # let the host queue every copy before timing starts
            start.record()
            for _ in range(inner):
                dst.copy_(src, non_blocking=True)
            end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / inner)
    return float(np.median(samples))


def copy_bandwidth(n, big_bytes, rows):
    """Fill rows with dicts: kind, src, dst, bytes, seconds, GBps (1e9 bytes/s, per destination)."""
    def buf(d, nbytes):
        return torch.empty(nbytes, dtype=torch.uint8, device=f"cuda:{d}")

    src0 = buf(0, big_bytes)
    dst1 = buf(1, big_bytes)
    for nbytes in [64 * KiB * 4**k for k in range(7)]:      # one pair over sizes: latency + bandwidth
        s = pair_copy_seconds(src0[:nbytes], dst1[:nbytes], reps=10, inner=20)
        rows.append({"kind": "pair_size_sweep", "src": 0, "dst": 1, "bytes": nbytes, "seconds": s,
                     "GBps": nbytes / s / 1e9})
    del dst1
    for i in range(n):                                      # every ordered pair, big messages
        src = src0 if i == 0 else buf(i, big_bytes)
        for j in range(n):
            if i == j:
                continue
            dst = buf(j, big_bytes)
            s = pair_copy_seconds(src, dst, reps=5, inner=5)
            rows.append({"kind": "pair", "src": i, "dst": j, "bytes": big_bytes, "seconds": s,
                         "GBps": big_bytes / s / 1e9})
            del dst
        if i != 0:
            del src
    torch.cuda.empty_cache()

    # One GPU -> all others at once: each copy on its own stream of the source device.
    dsts = [buf(j, big_bytes) for j in range(1, n)]
    streams = [torch.cuda.Stream(device=0) for _ in dsts]

    def one_to_all():
        for st, d in zip(streams, dsts):
            with torch.cuda.stream(st):
                d.copy_(src0, non_blocking=True)
    s = host_timed(one_to_all, n, reps=7, inner=3)
    for j in range(1, n):
        rows.append({"kind": "one_to_all", "src": 0, "dst": j, "bytes": big_bytes, "seconds": s,
                     "GBps": big_bytes / s / 1e9})
    rows.append({"kind": "one_to_all_total", "src": 0, "dst": -1, "bytes": big_bytes * (n - 1), "seconds": s,
                 "GBps": big_bytes * (n - 1) / s / 1e9})

    # All others -> one GPU at once: copies run on each source device's current stream.
    srcs = [buf(j, big_bytes) for j in range(1, n)]
    sinks = [buf(0, big_bytes) for _ in range(1, n)]

    def all_to_one():
        for sr, sk in zip(srcs, sinks):
            sk.copy_(sr, non_blocking=True)
    s = host_timed(all_to_one, n, reps=7, inner=3)
    rows.append({"kind": "all_to_one_total", "src": -1, "dst": 0, "bytes": big_bytes * (n - 1), "seconds": s,
                 "GBps": big_bytes * (n - 1) / s / 1e9})
    del dsts, srcs, sinks, src0
    torch.cuda.empty_cache()


# ----------------------------------------------------------------------------------------------
# The all-to-all measurement, one process per rank

def percentiles(x):
    x = np.asarray(x)
    return {"median_s": float(np.median(x)), "p10_s": float(np.percentile(x, 10)),
            "p90_s": float(np.percentile(x, 90)), "mean_s": float(x.mean()), "min_s": float(x.min())}


class Timer:
    """GPU events on CUDA, wall clock on CPU (gloo test)."""

    def __init__(self, use_cuda):
        self.use_cuda = use_cuda

    def start(self):
        if self.use_cuda:
            self.s, self.e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.s.record()
        else:
            self.t0 = time.perf_counter()

    def stop(self):
        if self.use_cuda:
            self.e.record()
        else:
            self.t1 = time.perf_counter()

    def seconds(self):
        if self.use_cuda:
            self.e.synchronize()
            return self.s.elapsed_time(self.e) / 1e3
        return self.t1 - self.t0


def one_matrix(rank, n, matrix_bytes, dtype, device, use_cuda, warmup, iters, natural=False):
    """Per-iteration seconds of this rank for all_to_all_single on matrix_bytes; checks the data once.
    natural: no GPU spin and no aligning all_reduce: each rank launches right after the host barrier,
    as a training step does, and its host launch time (CLOCK_REALTIME, one clock on one node) is kept
    so that the start offsets can be given to `moesim replay --start-offsets`."""
    elem = torch.tensor([], dtype=dtype).element_size()
    send = [int(b) // elem for b in matrix_bytes[rank]]
    recv = [int(matrix_bytes[j][rank]) // elem for j in range(n)]
    inp = torch.full((sum(send),), float(rank + 1), dtype=dtype, device=device)
    out = torch.empty(sum(recv), dtype=dtype, device=device)
    sync_tensor = torch.zeros(1, dtype=torch.float32, device=device)
    barrier_kwargs = {"device_ids": [rank]} if use_cuda else {}

    # Correctness once: segment j of the output must hold j+1 everywhere.
    dist.all_to_all_single(out, inp, recv, send)
    offsets = np.concatenate([[0], np.cumsum(recv)])
    for j in range(n):
        seg = out[offsets[j]:offsets[j + 1]]
        if seg.numel() and not bool((seg == float(j + 1)).all()):
            raise RuntimeError(f"rank {rank}: wrong data from rank {j}")

    timer, times, enqueue = Timer(use_cuda), [], []
    for it in range(warmup + iters):
        dist.barrier(**barrier_kwargs)
        if natural:
            if use_cuda:
                torch.cuda.synchronize()
            launch_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
            timer.start()
            dist.all_to_all_single(out, inp, recv, send)
            timer.stop()
            t = timer.seconds()
            if it >= warmup:
                times.append(t)
                enqueue.append(launch_ns * 1e-9)   # natural mode: the launch instant, not an enqueue time
            continue
        if use_cuda and hasattr(torch.cuda, "_sleep"):
            torch.cuda._sleep(SLEEP_CYCLES)   # GPU waits while the host queues the next three ops
        t_host = time.perf_counter()
        dist.all_reduce(sync_tensor)          # lines the GPUs' streams up: the common start
        timer.start()
        dist.all_to_all_single(out, inp, recv, send)
        timer.stop()
        t_host = time.perf_counter() - t_host  # must stay below the spin, else host time leaks in
        t = timer.seconds()
        if it >= warmup:
            times.append(t)
            enqueue.append(t_host)
    del inp, out
    return times, enqueue


def spin_seconds(use_cuda):
    """GPU time of one SLEEP_CYCLES spin (the slack the host has to queue an iteration)."""
    if not (use_cuda and hasattr(torch.cuda, "_sleep")):
        return 0.0
    timer = Timer(True)
    timer.start()
    torch.cuda._sleep(SLEEP_CYCLES)
    timer.stop()
    return timer.seconds()


def worker(rank, n, args, matrices, partial_path, use_cuda):
    os.environ.update(SAFE_ENV)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(args.port))
    if use_cuda:
        torch.cuda.set_device(rank)
        device = torch.device(f"cuda:{rank}")
        dist.init_process_group("nccl", rank=rank, world_size=n, device_id=device)
        dtype = torch.bfloat16
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo", rank=rank, world_size=n)
        dtype = torch.float32
    spin_s = spin_seconds(use_cuda)
    t_begin = time.perf_counter()
    records = []
    order = list(range(len(matrices)))
    for rep in range(args.repeats):
        for idx in (order if rep % 2 == 0 else order[::-1]):   # second pass in reverse: drift shows
            name, desc, size, m = matrices[idx]
            elapsed = time.perf_counter() - t_begin
            over = torch.tensor([1.0 if elapsed > args.time_budget_s else 0.0], device=device)
            dist.all_reduce(over)                                # all ranks agree to stop together
            if over.item() > 0:
                break
            large = size >= args.large_bytes
            iters = args.iters_large if large else args.iters
            natural = args.launch == "natural"
            times, enqueue = one_matrix(rank, n, m, dtype, device, use_cuda, args.warmup, iters, natural)
            gathered, gathered_enq = [None] * n, [None] * n
            dist.all_gather_object(gathered, times)
            dist.all_gather_object(gathered_enq, [spin_s] + enqueue)
            if rank == 0:
                per_iter = np.array(gathered)                    # ranks x iters
                rec = {"rep": rep, "pattern": name, "description": desc, "bytes_per_gpu": size,
                       "matrix_bytes": m.tolist(), "iters": iters, "warmup": args.warmup,
                       "per_rank": [percentiles(per_iter[r]) for r in range(n)],
                       "max_over_ranks": percentiles(per_iter.max(axis=0)),
                       "spin_s": [g[0] for g in gathered_enq],
                       "host_enqueue_median_s": [float(np.median(g[1:])) for g in gathered_enq],
                       "host_enqueue_max_s": [float(np.max(g[1:])) for g in gathered_enq],
                       "iters_enqueue_over_spin": int(sum(
                           any(gathered_enq[r][1 + i] > gathered_enq[r][0] for r in range(n))
                           for i in range(iters))) if use_cuda else 0,
                       "raw_s": [[round(float(t), 9) for t in row] for row in per_iter]}
                if natural:   # per iteration, each rank's launch - the first rank's (seconds)
                    launches = np.array([g[1:] for g in gathered_enq])          # ranks x iters
                    offsets = launches - launches.min(axis=0)
                    rec["launch"] = "natural"
                    rec["start_offsets_s"] = [[round(float(o), 9) for o in row] for row in offsets]
                    rec["start_offset_median_s"] = [float(np.median(row)) for row in offsets]
                    for k in ("host_enqueue_median_s", "host_enqueue_max_s"):
                        rec.pop(k)
                    rec["iters_enqueue_over_spin"] = 0
                records.append(rec)
                if len(records) % 8 == 0:
                    write_json_atomically(partial_path, {"records": records, "partial": True})
                print(f"rep {rep} {name:16s} {size / MiB:9.3f} MiB/GPU  max-over-ranks median "
                      f"{rec['max_over_ranks']['median_s'] * 1e6:9.1f} us", flush=True)
        else:
            continue
        break
    if rank == 0:
        write_json_atomically(partial_path, {"records": records, "partial": False})
    dist.barrier(**({"device_ids": [rank]} if use_cuda else {}))
    dist.destroy_process_group()


# ----------------------------------------------------------------------------------------------
# Output

def write_json_atomically(path, obj):
    tmp = path + ".partial-tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def write_csv(path, rows, fields):
    with open(path + ".partial-tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(path + ".partial-tmp", path)


def summary_rows(records, n):
    rows = []
    for rec in records:
        m = np.array(rec["matrix_bytes"])
        for r in list(range(n)) + ["max"]:
            st = rec["max_over_ranks"] if r == "max" else rec["per_rank"][r]
            rows.append({
                "rep": rec["rep"], "pattern": rec["pattern"], "bytes_per_gpu": rec["bytes_per_gpu"], "rank": r,
                "bytes_out": int(m.sum() - np.trace(m)) if r == "max" else int(m[r].sum() - m[r, r]),
                "bytes_in": int(m.sum() - np.trace(m)) if r == "max" else int(m[:, r].sum() - m[r, r]),
                "bytes_self": int(np.trace(m)) if r == "max" else int(m[r, r]),
                "iters": rec["iters"], **{k: f"{st[k]:.9f}" for k in ("median_s", "p10_s", "p90_s", "mean_s", "min_s")}})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--cpu-test", type=int, default=0, metavar="N",
                    help="run N gloo ranks on CPU with tiny sizes (logic test, no GPU)")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=300, help="timed iterations below --large-bytes")
    ap.add_argument("--iters-large", type=int, default=100, help="timed iterations at or above --large-bytes")
    ap.add_argument("--large-bytes", type=int, default=16 * MiB)
    ap.add_argument("--repeats", type=int, default=2, help="passes over all matrices (2nd in reverse order)")
    ap.add_argument("--copy-bytes", type=int, default=256 * MiB)
    ap.add_argument("--time-budget-s", type=float, default=200.0,
                    help="stop starting new matrices after this long (partial results are kept)")
    ap.add_argument("--port", type=int, default=29533)
    ap.add_argument("--extra-patterns", help="JSON {source, patterns: {name: NxN weights}} measured at the skewed sizes too")
    ap.add_argument("--only-extra", action="store_true", help="skewed matrices: only --extra-patterns")
    ap.add_argument("--calibration-sets", action="store_true",
                    help="also measure single-peer and diagonal-only matrices and uniform ones, 4 KiB .. 1 GiB per GPU "
                         "(what `moesim calibrate` fits the per-peer limit and the local copy on)")
    ap.add_argument("--launch", choices=["aligned", "natural"], default="aligned",
                    help="aligned: GPU spin + all_reduce line the ranks up before each call (default); natural: "
                         "launch after a host barrier only, and record each rank's start offset")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    use_cuda = args.cpu_test == 0
    if use_cuda:
        n = torch.cuda.device_count()
        if n < 2:
            sys.exit("measure_alltoall: needs at least 2 GPUs (or --cpu-test N)")
        sizes_u, sizes_s = SIZES_UNIFORM_BYTES, SIZES_SKEWED_BYTES
        sizes_c = SIZES_CALIBRATION_BYTES if args.calibration_sets else []
        os.environ.setdefault("NCCL_DEBUG", "INFO")
        os.environ.setdefault("NCCL_DEBUG_SUBSYS", "INIT,TUNING")   # per-collective lines dropped below
        os.environ.setdefault("NCCL_DEBUG_FILE", "/tmp/nccl_debug.%h.%p.log")
    else:
        n = args.cpu_test
        sizes_u, sizes_s = [KiB * 2**k for k in range(4)], [KiB, 16 * KiB]
        sizes_c = [KiB, 4 * KiB, 16 * KiB] if args.calibration_sets else []
        args.iters, args.iters_large, args.warmup, args.large_bytes = 5, 3, 1, 16 * KiB

    t0 = time.time()
    meta = environment_record(use_cuda)
    meta["world_size"] = n
    meta["args"] = vars(args)
    meta["method"] = ("per-rank latency = GPU time from a start event recorded right after a tiny all_reduce "
                      "(which lines the ranks' streams up) to the end event after all_to_all_single; host "
                      "barrier + ~1 ms GPU spin before each iteration; bytes_per_gpu = mean input-buffer "
                      "bytes per GPU (diagonal = local copy included)")
    if use_cuda:
        with open(os.path.join(args.out, "topo.txt"), "w") as f:
            for cmd in (["nvidia-smi"], ["nvidia-smi", "topo", "-m"], ["nvidia-smi", "nvlink", "-s"]):
                f.write(f"$ {' '.join(cmd)}\n{run_text(cmd)}\n")
        copy_rows = []
        try:                       # a failure here must not cost the all-to-all measurement
            copy_bandwidth(n, args.copy_bytes, copy_rows)
        except Exception as e:
            meta["copy_bandwidth_error"] = repr(e)
            print(f"copy bandwidth failed: {e!r}", flush=True)
            torch.cuda.empty_cache()
        write_csv(os.path.join(args.out, "copy_bandwidth.csv"), copy_rows,
                  ["kind", "src", "dst", "bytes", "seconds", "GBps"])
        meta["copy_bandwidth"] = copy_rows
        for r in copy_rows:
            print(f"copy {r['kind']:16s} {r['src']:2d}->{r['dst']:2d} {r['bytes'] / MiB:9.3f} MiB "
                  f"{r['GBps']:8.1f} GB/s", flush=True)
        torch.cuda.synchronize()
    print(f"setup + copies: {time.time() - t0:.1f} s", flush=True)
    write_json_atomically(os.path.join(args.out, "meta.json"), meta)   # survives a killed run

    matrices = build_matrices(n, args.seed, sizes_u, sizes_s, args.extra_patterns, args.only_extra, sizes_c)
    partial_path = os.path.join(args.out, "records.partial.json")
    mp.spawn(worker, args=(n, args, matrices, partial_path, use_cuda), nprocs=n, join=True)

    with open(partial_path) as f:
        records = json.load(f)["records"]
    meta["wall_s"] = time.time() - t0
    write_json_atomically(os.path.join(args.out, "results.json"), {"meta": meta, "records": records})
    os.remove(partial_path)
    write_csv(os.path.join(args.out, "measurements.csv"), summary_rows(records, n),
              ["rep", "pattern", "bytes_per_gpu", "rank", "bytes_out", "bytes_in", "bytes_self", "iters",
               "median_s", "p10_s", "p90_s", "mean_s", "min_s"])
    if use_cuda:                                    # one file of every rank's NCCL INIT/TUNING lines
        import glob
        with open(os.path.join(args.out, "nccl_debug.log"), "w") as f:
            for p in sorted(glob.glob("/tmp/nccl_debug.*.log")):
                f.write(f"==> {p}\n" + "".join(line for line in open(p, errors="replace")
                                                 if "Bytes -> Algo" not in line))
    print(f"done: {len(records)} matrices in {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
