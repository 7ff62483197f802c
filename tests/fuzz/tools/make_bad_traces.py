#!/usr/bin/python3
# Makes hand-broken variants of a real trace (seed inputs for the trace_reader harness and the rows of
# docs/BAD_INPUTS.md). Usage: cd DIR && make_bad_traces.py GOOD.h5   (Debian python3-h5py)
import sys
import h5py, numpy as np, shutil
def variant(name, fn):
    shutil.copy(sys.argv[1], name)
    with h5py.File(name, 'r+') as f: fn(f)
variant('version2.h5', lambda f: f.attrs.__setitem__('version', np.int64(2)))
variant('format_other.h5', lambda f: f.attrs.__setitem__('format', 'something-else'))
variant('no_num_layers.h5', lambda f: f.attrs.__delitem__('num_layers'))
variant('num_layers_3.h5', lambda f: f.attrs.__setitem__('num_layers', np.int64(3)))
variant('topk_gt_experts.h5', lambda f: f.attrs.__setitem__('top_k', np.int64(9)))
variant('num_experts_str.h5', lambda f: f.attrs.__setitem__('num_experts', 'eight'))
def bad_id(f):
    d=f['layers/0/expert_ids']; a=d[...]; a[3,1]=200; d[...]=a
variant('expert_id_200.h5', bad_id)
def wide_ids(f):
    a=f['layers/1/expert_ids'][...]; del f['layers/1/expert_ids']; f.create_dataset('layers/1/expert_ids', data=a.astype('int64'))
variant('ids_int64.h5', wide_ids)
def offsets(f):
    d=f['steps/offsets']; a=d[...]; a[-1]=5; d[...]=a
variant('offsets_bad.h5', offsets)
def gates_shape(f):
    a=f['layers/0/gate_weights'][...]; del f['layers/0/gate_weights']; f.create_dataset('layers/0/gate_weights', data=a[:10])
variant('gates_short.h5', gates_shape)
def huge(f):
    f.attrs['num_tokens']=np.int64(1<<40)
variant('num_tokens_huge.h5', huge)
def neg(f): f.attrs['num_layers']=np.int64(-1)
variant('num_layers_neg.h5', neg)
def nodata(f):
    # a trace that claims 10^9 tokens in datasets whose chunks were never written (fill value 0)
    T=10**9
    f.attrs['num_tokens']=np.int64(T)
    for n in ['steps/offsets']:
        del f[n]; f['steps/offsets']=np.array([0,T],dtype='uint64')
    for n in ['tokens/sequence_id','tokens/position']:
        del f[n]; f.create_dataset(n, shape=(T,), dtype='int32', chunks=(65536,))
    for l in range(2):
        for n,dt in [('expert_ids','uint8'),('gate_weights','float32')]:
            del f['layers/%d/%s'%(l,n)]; f.create_dataset('layers/%d/%s'%(l,n), shape=(T,2), dtype=dt, chunks=(65536,2))
variant('unwritten_1e9_tokens.h5', nodata)
with h5py.File('not_a_trace.h5','w') as f: f['x']=np.arange(10)
# Format 1.1: the kept mask (layers/<l>/kept, uint8 (T, k), announced by has_kept_mask = 1).
def kept_mask(f, value=None, shape=None, announce=True):
    f.attrs['version_minor'] = np.int64(1)
    f.attrs['has_kept_mask'] = np.int64(1 if announce else 0)
    rng = np.random.default_rng(0)
    for l in range(int(f.attrs['num_layers'])):
        T, k = f['layers/%d/expert_ids' % l].shape
        m = (rng.random(shape or (T, k)) < 0.7).astype('uint8')
        if value is not None: m[3, 1] = value
        f.create_dataset('layers/%d/kept' % l, data=m, chunks=True, compression='gzip')
variant('kept_mask.h5', kept_mask)
variant('kept_value_7.h5', lambda f: kept_mask(f, value=7))
variant('kept_shape_3cols.h5', lambda f: kept_mask(f, shape=(f.attrs['num_tokens'], 3)))
variant('kept_unannounced.h5', lambda f: kept_mask(f, announce=False))
