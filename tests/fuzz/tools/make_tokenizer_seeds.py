#!/usr/bin/python3
# Cuts the real OLMoE tokenizer.json (2 MB) down to seed inputs for the tokenizer_json harness:
# the same structure (normalizer, pre-tokenizer, added tokens, byte-level BPE), its first merges and
# only the vocabulary they use, so each fuzz run parses kilobytes, not megabytes.
# Usage: make_tokenizer_seeds.py OLMOE_TOKENIZER_JSON TOKENIZER_REFERENCE_JSON OUT_DIR
import json, sys, copy
src, ref, out = sys.argv[1:4]
full = json.load(open(src))
merges = full['model']['merges'][:120]
vocab_full = full['model']['vocab']
keep = set()
for m in merges:
    a, b = m.split(' ')
    keep.update([a, b, a + b])
# the 256 byte symbols, so that every input byte has a token
keep.update(t for t, i in vocab_full.items() if len(t) == 1)
mini = copy.deepcopy(full)
ids = sorted(vocab_full[t] for t in keep if t in vocab_full)
remap = {old: new for new, old in enumerate(ids)}
mini['model']['vocab'] = {t: remap[i] for t, i in vocab_full.items() if i in remap}
mini['model']['merges'] = merges
n = len(remap)
mini['added_tokens'] = [dict(t, id=n + k) for k, t in enumerate(full['added_tokens'][:4])]
json.dump(mini, open(f'{out}/olmoe_mini.tokenizer.json', 'w'), ensure_ascii=False)
llama3 = copy.deepcopy(mini)
pattern = json.load(open(ref))['llama3_pattern']
llama3['normalizer'] = None
llama3['pre_tokenizer'] = {'type': 'Sequence', 'pretokenizers': [
    {'type': 'Split', 'pattern': {'Regex': pattern}, 'behavior': 'Isolated', 'invert': False},
    {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False}]}
json.dump(llama3, open(f'{out}/llama3_style_mini.tokenizer.json', 'w'), ensure_ascii=False)
