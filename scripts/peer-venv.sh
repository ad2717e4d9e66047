#!/usr/bin/env bash
# The peer library of benchmarks/sequential_speed.py (RecTools' SASRec) in its own virtualenv,
# .venv-peer/ (gitignored), so its pins (numpy<2, pytorch-lightning<=2.5.2, ...) never touch the
# project's .venv. torch is installed first and then pinned with a constraints file, because
# rectools[torch] would otherwise be free to resolve a different (CUDA) torch build.
#   bash scripts/peer-venv.sh            # creates .venv-peer (or completes a partial one)
#   PEER_PYTHON=python3.12 bash scripts/peer-venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PEER_PYTHON:-python3.11}"
TORCH="${PEER_TORCH:-torch==2.13.0}"
RECTOOLS="${PEER_RECTOOLS:-rectools[torch]==0.19.*}"
VENV=.venv-peer

if ! command -v "$PY" >/dev/null 2>&1; then
    echo "peer-venv: $PY not found; set PEER_PYTHON to a Python 3.10-3.12 interpreter" >&2
    exit 1
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "$TORCH"
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
"$VENV/bin/python" -c "import torch; print('torch==' + torch.__version__)" >"$constraints"
"$VENV/bin/pip" install --quiet -c "$constraints" "$RECTOOLS"
"$VENV/bin/python" - <<'PY'
import rectools, torch, pytorch_lightning
print(f"peer-venv: rectools {rectools.__version__}, torch {torch.__version__}, "
      f"pytorch-lightning {pytorch_lightning.__version__}")
PY
