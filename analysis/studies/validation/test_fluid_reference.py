#!/usr/bin/env python3
"""Hand-worked cases for fluid_reference.py (the numpy model predict.py cross-checks moesim with).

  /usr/bin/python3 analysis/studies/validation/test_fluid_reference.py      # prints 'N passed, 0 failed'
"""
import sys

import numpy as np

import fluid_reference as F

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


@case
def two_gpus_exchange_pays_latency_then_bytes_over_bandwidth():
    # 100 B each way at 100 B/s, 1 s latency: 1 + 1 = 2 s for both.
    np.testing.assert_allclose(F.direct_alltoall([[0, 100], [100, 0]], 100.0, latency_s=1.0), [2.0, 2.0])


@case
def uniform_on_a_switch_is_the_egress_bound():
    # 4 GPUs, 30 B to each other GPU, 10 B/s links: 90 B out of every GPU -> 9 s, + launch 0.5 s.
    m = np.full((4, 4), 30.0)
    np.testing.assert_allclose(F.direct_alltoall(m, 10.0, launch_s=0.5), [9.5] * 4)


@case
def hot_destination_is_bound_by_its_ingress():
    # Three senders of 30 B into GPU 0 at 10 B/s ingress: 9 s for everyone involved.
    m = [[0, 0, 0, 0], [30, 0, 0, 0], [30, 0, 0, 0], [30, 0, 0, 0]]
    np.testing.assert_allclose(F.direct_alltoall(m, 10.0), [9.0] * 4)


@case
def a_late_flow_shares_only_from_its_start():
    # GPU 0 sends 100 B to GPU 1 (issued at 1 s) and 100 B to GPU 2 (issued at 2 s), 100 B/s egress.
    # 1..2 s: first flow alone (100 B/s) -> done at 2 s; then the second alone -> done at 3 s.
    m = [[0, 100, 100], [0, 0, 0], [0, 0, 0]]
    np.testing.assert_allclose(F.direct_alltoall(m, 100.0, overhead_s=1.0), [3.0, 2.0, 3.0])


@case
def max_min_fairness_gives_the_unbottlenecked_flow_the_rest():
    # Flows 0->2 and 1->2 share GPU 2's ingress (10 B/s): 5 B/s each; flow 0->1 gets 0's remaining 5 B/s.
    # 0->2 and 1->2 carry 50 B -> 10 s; 0->1 carries 25 B at 5 B/s -> 5 s.
    m = [[0, 25, 50], [0, 0, 50], [0, 0, 0]]
    np.testing.assert_allclose(F.direct_alltoall(m, 10.0), [10.0, 10.0, 10.0])
    rates = F.max_min_rates(np.array([True, True, True]), np.array([0, 0, 1]), np.array([1, 2, 2]),
                            np.full(3, 10.0), np.full(3, 10.0), None)
    np.testing.assert_allclose(rates, [5.0, 5.0, 5.0])


@case
def duplex_cap_makes_sending_and_receiving_share():
    # 2 GPUs exchanging 100 B at 100 B/s per direction, but 100 B/s for in + out together: 2 s.
    np.testing.assert_allclose(F.direct_alltoall([[0, 100], [100, 0]], 100.0, duplex_Bps=100.0), [2.0, 2.0])


@case
def pair_cap_limits_a_lone_flow():
    np.testing.assert_allclose(F.direct_alltoall([[0, 100], [0, 0]], 100.0, pair_Bps=50.0), [2.0, 2.0])


@case
def diagonal_never_costs_anything():
    np.testing.assert_allclose(F.direct_alltoall([[1e9, 0], [0, 1e9]], 1.0, launch_s=0.25), [0.25, 0.25])


@case
def size_factor_weights_a_flow_by_one_over_its_factor():
    # GPU 0 sends 800 B (factor 1) to GPU 1 and 100 B (factor 0.5) to GPU 2 over a 100 B/s egress:
    # each takes half the link (50 B/s of capacity); the small one turns it into 25 B/s and ends at
    # 4 s; the big one has moved 200 B by then and has the link alone for 600 B: 4 + 6 = 10 s.
    # (The same case as the C++ SimGrid test, which checks that SimGrid shares this way.)
    m = [[0, 800, 100], [0, 0, 0], [0, 0, 0]]
    t = F.direct_alltoall(m, 100.0, factor_of=lambda b: 1.0 if b >= 800 else 0.5)
    np.testing.assert_allclose(t, [10.0, 10.0, 4.0])


@case
def per_flow_cap_scales_with_the_flow_factor():
    # One 60 B flow, 100 B/s links, cap 40 B/s, factor 0.5: rate 20 B/s -> 3 s.
    t = F.direct_alltoall([[0, 60], [0, 0]], 100.0, pair_Bps=40.0, factor_of=lambda b: 0.5)
    np.testing.assert_allclose(t, [3.0, 3.0])


def main():
    failed = 0
    for fn in CASES:
        try:
            fn()
        except AssertionError as e:
            failed += 1
            print(f"FAILED {fn.__name__}: {e}")
    print(f"{len(CASES) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
