#!/usr/bin/python3
# Seed inputs for the traffic_matrix harness, computed from a real trace (its layer 0 routing): tokens
# sent from each source GPU (tokens split evenly, in order) to the GPU holding each chosen expert
# (experts split evenly). First byte = harness selector: bit 0 json (else csv), bit 1 unit tokens.
# Usage: make_matrix_seeds.py TRACE.h5 GPUS OUT_DIR
import sys, json, h5py, numpy as np
trace, gpus, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with h5py.File(trace, 'r') as f:
    ids = f['layers/0/expert_ids'][...]
    experts = int(f.attrs['num_experts'])
T = ids.shape[0]
m = np.zeros((gpus, gpus), dtype=np.int64)
for t in range(T):
    for e in ids[t]:
        m[t * gpus // T, int(e) * gpus // experts] += 1
rows = m.tolist()
csv = '# tokens from source GPU (row) to destination GPU (column), layer 0 of %s\n' % trace.split('/')[-1]
csv += '\n'.join(','.join(str(v) for v in r) for r in rows) + '\n'
open(f'{out}/tokens_{gpus}gpu.csv.seed', 'wb').write(b'\x02' + csv.encode())
bytes_csv = '\n'.join(','.join(str(v * 8192) for v in r) for r in rows) + '\n'
open(f'{out}/bytes_{gpus}gpu.csv.seed', 'wb').write(b'\x00' + bytes_csv.encode())
open(f'{out}/tokens_{gpus}gpu_object.json.seed', 'wb').write(b'\x01' + json.dumps({'unit': 'tokens', 'matrix': rows}).encode())
open(f'{out}/bytes_{gpus}gpu_array.json.seed', 'wb').write(b'\x01' + json.dumps([[v * 8192.5 for v in r] for r in rows]).encode())
