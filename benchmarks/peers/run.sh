#!/usr/bin/env bash
# Benchmarks of vfp against fplanck, py-pde, sdeint and plain NumPy.
# Creates the benchmark's own venv (benchmarks/peers/.venv, git-ignored) with vfp (editable)
# and the peers from PyPI -- the peers are never dependencies of vfp -- then runs bench.py
# and writes results.json, results.md and PNGs into benchmarks/peers/.
# VFP_PEERS_QUICK=1 runs reduced sizes (a smoke test); VFP_PEERS_ONLY=particles reruns only
# the particle comparison, keeping the stored PDE results.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q -e "$ROOT" fplanck py-pde sdeint matplotlib
cd "$ROOT"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
"$VENV/bin/python" "$HERE/bench.py"
"$VENV/bin/python" "$HERE/report.py" > /dev/null
echo "wrote $HERE/results.md"
