#!/usr/bin/python3
"""DeepEP's "bottleneck bandwidth" of one replayed dispatch/combine, counted as DeepEP's tests count it.

deepseek-ai/DeepEP tests/legacy/test_internode.py (internode rows):
    rdma_idx = topk_idx // (num_experts // num_nodes); inplace_unique(rdma_idx, num_nodes)
    num_rdma_token_sent = rdma_idx.ne(-1).sum()          # (token, node) pairs, the own node included
    rdma_send_bytes = num_rdma_token_sent * hidden * 2 * fp8_factor,  fp8_factor = (1 + 4/128) / 2
    printed: rdma_send_bytes / t  (dispatch),  same count * hidden * 2 (BF16) / t  (combine)
tests/legacy/test_intranode.py (EP8 row):
    nvl_recv_bytes = recv_x.numel() * 2 * fp8_factor     # tokens the rank receives, its own included
t is rank 0's kernel time (bench_kineto on rank 0). Here: GPU 0's phase time (finish - own start,
sim/README.md "Definitions"), and for comparison the all-to-all's time (the largest over GPUs).

usage: bandwidth.py TRACE REPLAY_DIR EP GPUS_PER_NODE  -> one JSON line
"""
import json
import sys

import h5py
import numpy as np

HIDDEN = 7168
FP8_BYTES = HIDDEN * (1 + 4 / 128)  # 7392: FP8 values + one float scale per 128 (per_token_cast_to_fp8)
BF16_BYTES = HIDDEN * 2


def main(trace, replay_dir, ep, per_node):
    with h5py.File(trace, "r") as f:
        ids = f["layers/0/expert_ids"][...].astype(np.int64)  # (tokens, k), one step
        experts = int(f.attrs["num_experts"]) if "num_experts" in f.attrs else int(ids.max()) + 1
    tokens_per_gpu = ids.shape[0] // ep
    gpu_of_expert = ids // (experts // ep)  # contiguous placement
    nodes = ep // per_node
    if nodes > 1:
        mine = gpu_of_expert[:tokens_per_gpu] // per_node  # GPU 0's tokens, their experts' nodes
        count = sum(len(set(row)) for row in mine.tolist())
    else:
        count = int((gpu_of_expert == 0).any(axis=1).sum())  # tokens GPU 0 receives, its own included
    with h5py.File(f"{replay_dir}/replay.h5", "r") as f:
        g = f["gpu"]
        phase, gpu = g["phase"][...], g["gpu"][...]
        time = g["finish_s"][...] - g["start_s"][...]
    out = {"ep": ep, "tokens_counted": count}
    for p, name, width in ((0, "dispatch", FP8_BYTES), (1, "combine", BF16_BYTES)):
        t0 = float(time[(phase == p) & (gpu == 0)][0])
        tmax = float(time[phase == p].max())
        out[name] = {"gpu0_time_us": t0 * 1e6, "a2a_time_us": tmax * 1e6,
                     "GBps": count * width / t0 / 1e9, "GBps_a2a_time": count * width / tmax / 1e9}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
