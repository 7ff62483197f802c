# Sourced by reproduce.sh and low_latency.sh: the arguments both take, BUILD_DIR [WORK_DIR [TABLE]].
# The caller sets `here` (this folder) and `default_table`; this sets moesim, work, table and py.
moesim=$(cd "$1" && pwd)/cli/moesim
work=${2:-$(mktemp -d)}
table=${3:-$here/$default_table}
mkdir -p "$work"
py=/usr/bin/python3
