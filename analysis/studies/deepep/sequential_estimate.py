#!/usr/bin/python3
"""What a two-phase (RDMA, barrier, then NVLink forwarding) model would add to deepep's dispatch:
the forwarding stage's own time, max over GPUs of max(forward bytes out, in) / NVLink rate.
Contiguous placement, one expert group per node, GPU g's tokens = rows g*T..(g+1)*T of the trace.

usage: sequential_estimate.py TRACE EP NVLINK_GBps  -> forwarding stage in µs
"""
import sys

import h5py
import numpy as np

BYTES = 7168 * (1 + 4 / 128)
trace, ep, nvl = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) * 1e9
per_node = 8
with h5py.File(trace, "r") as f:
    ids = f["layers/0/expert_ids"][...].astype(np.int64)
T = ids.shape[0] // ep
gpu = ids // (256 // ep)                       # (tokens, k): destination GPU of each pick
src = np.repeat(np.arange(ep), T)
fwd = np.zeros((ep, ep))
for t in range(ids.shape[0]):
    s = src[t]
    for d in set(gpu[t].tolist()):
        if d // per_node != s // per_node:
            r = (d // per_node) * per_node + s % per_node   # rail peer of s in d's node
            if r != d:
                fwd[r, d] += BYTES
print(f"{max(fwd.sum(1).max(), fwd.sum(0).max()) / nvl * 1e6:.0f}")
