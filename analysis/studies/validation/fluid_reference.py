"""A max-min fair fluid model of a direct all-to-all on one switch, in plain numpy.

An independent reference for the calibration and a cross-check of `moesim replay` (which does the
same with SimGrid's CM02 model): every off-diagonal entry of the matrix is one flow from GPU s to
GPU d, issued at launch + k * overhead (k = 1.. in the order s+1, s+2, ... mod n, as the replay
engine's direct algorithm does), paying `latency_s` before it moves data; active flows share each
GPU's egress and ingress capacity max-min fairly (progressive filling); optionally each flow is
capped at `pair_Bps`, and each GPU's egress + ingress together at `duplex_Bps` (a GPU that sends and
receives at once shares its copy engines / SMs between both directions), and each flow may have a
bandwidth factor by its size (`factor_of`; the platform's calibration.bandwidth_factors). A GPU is
done when every flow it sends or receives has finished.
"""
import numpy as np


def max_min_rates(active, src, dst, egress_Bps, ingress_Bps, pair_Bps, duplex_Bps=None, weight=None):
    """Progressive filling over the egress/ingress links (and an optional per-flow cap, and an
    optional per-GPU cap on egress + ingress together). weight[f] (default 1) is 1 / flow f's
    bandwidth factor: as SimGrid's CM02 does with a size-dependent factor, flows share every link
    (and the per-flow cap) max-min fairly in capacity used, and a flow turns its share into rate at
    its factor: rate = share / weight."""
    n = len(egress_Bps)
    caps = [egress_Bps, ingress_Bps] + ([duplex_Bps] if duplex_Bps is not None else [])
    n_links = n * len(caps)
    cap = np.concatenate(caps).astype(float)
    share = np.zeros(len(src))
    frozen = ~active.copy()
    links_of = [(src[f], n + dst[f]) + ((2 * n + src[f], 2 * n + dst[f]) if duplex_Bps is not None else ())
                for f in range(len(src))]
    while not frozen.all():
        users = np.zeros(n_links)
        for f in np.flatnonzero(~frozen):
            for link in links_of[f]:
                users[link] += 1
        with np.errstate(divide="ignore", invalid="ignore"):
            fair = np.where(users > 0, cap / users, np.inf)
        increment = fair.min()
        if pair_Bps is not None:
            increment = min(increment, pair_Bps - share[~frozen].max())
        for f in np.flatnonzero(~frozen):
            share[f] += increment
            for link in links_of[f]:
                cap[link] -= increment
        saturated = {link for link in range(n_links) if users[link] > 0 and cap[link] <= 1e-9 * max(1.0, increment)}
        for f in np.flatnonzero(~frozen):
            if any(link in saturated for link in links_of[f]) or (pair_Bps is not None and share[f] >= pair_Bps * (1 - 1e-12)):
                frozen[f] = True
    return share if weight is None else share / np.asarray(weight, dtype=float)


def direct_alltoall(matrix_bytes, egress_Bps, ingress_Bps=None, latency_s=0.0, launch_s=0.0,
                    overhead_s=0.0, pair_Bps=None, duplex_Bps=None, factor_of=None):
    """Per-GPU finish times (s) of a direct all-to-all of matrix_bytes (n x n, diagonal ignored).
    factor_of(message_bytes) -> bandwidth factor of that flow (default 1): see max_min_rates."""
    m = np.asarray(matrix_bytes, dtype=float)
    n = m.shape[0]
    egress = np.full(n, egress_Bps, dtype=float) if np.isscalar(egress_Bps) else np.asarray(egress_Bps, float)
    ingress = egress if ingress_Bps is None else (
        np.full(n, ingress_Bps, dtype=float) if np.isscalar(ingress_Bps) else np.asarray(ingress_Bps, float))
    src, dst, left, active_at = [], [], [], []
    for s in range(n):
        issued = 0
        for k in range(1, n):
            d = (s + k) % n
            if m[s, d] <= 0:
                continue
            issued += 1
            src.append(s), dst.append(d), left.append(m[s, d])
            active_at.append(launch_s + issued * overhead_s + latency_s)
    src, dst = np.array(src), np.array(dst)
    weight = None if factor_of is None else np.array([1.0 / factor_of(b) for b in left])
    left, active_at = np.array(left), np.array(active_at)
    finish = np.full(len(src), np.nan)
    t = 0.0
    while np.isnan(finish).any():
        pending = np.isnan(finish)
        active = pending & (active_at <= t + 1e-15)
        if not active.any():
            t = active_at[pending].min()
            continue
        duplex = None if duplex_Bps is None else np.full(n, duplex_Bps, dtype=float)
        rate = max_min_rates(active, src, dst, egress, ingress, pair_Bps, duplex, weight)
        with np.errstate(divide="ignore"):
            to_finish = np.where(active, left / np.where(rate > 0, rate, np.nan), np.inf)
        next_start = active_at[pending & ~active].min() if (pending & ~active).any() else np.inf
        dt = min(np.nanmin(to_finish), next_start - t)
        left = np.where(active, left - rate * dt, left)
        t += dt
        done = active & (left <= 1e-6)
        finish[done] = t
    gpu_done = np.full(n, launch_s)
    for f in range(len(src)):
        gpu_done[src[f]] = max(gpu_done[src[f]], finish[f])
        gpu_done[dst[f]] = max(gpu_done[dst[f]], finish[f])
    return gpu_done
