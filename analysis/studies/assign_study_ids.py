"""WikiText-2 test as character ids for the 96-token parity fixtures: printable ASCII c -> c - 32,
anything else -> 95. Usage: assign_study_ids.py DATA_DIR MAX_TOKENS > ids.txt"""
import pathlib
import sys

data, limit = pathlib.Path(sys.argv[1]), int(sys.argv[2])
text = (data / "wikitext-2" / "wiki.test.raw").read_text(encoding="utf-8")
ids = [ord(c) - 32 if 32 <= ord(c) < 127 else 95 for c in text[:limit]]
print(" ".join(map(str, ids)))
