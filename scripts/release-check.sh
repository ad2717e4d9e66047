#!/usr/bin/env bash
# The release check: what a user gets from `pip install recsmith`, outside the repository.
#   1. build the sdist and the wheel (`python -m build` builds the wheel from the sdist, so a file the
#      sdist misses fails here), `twine check --strict` them, and look inside the wheel (the packaged
#      configs are there, the version matches recsmith.__version__ and CHANGELOG.md has its section);
#   2. install the wheel, core only, into a clean virtualenv in a temporary folder and, from another
#      temporary folder: `recsmith --version`, `recsmith models`, `recsmith demo` (its packaged config),
#      and commands and models whose extra is missing must stop with the one-line error (exit 5);
#   3. with --all: a second clean virtualenv with recsmith[all] and the TorchRec step, where
#      `recsmith models` shows every model available and each one trains on ml-100k
#      (the packaged ml100k_every_model config; needs ../shared/data/ml-100k).
#
#   bash scripts/release-check.sh          # steps 1-2: CI runs this (.ci/run), after `make test`
#   bash scripts/release-check.sh --all    # steps 1-3 (a clean torch install: minutes)
#   RELEASE_CHECK_JSON=benchmarks/results/release_check.json bash scripts/release-check.sh --all
#
# Environment: PYTHON builds and checks (default .venv/bin/python: `make install` gives it build and
# twine); BASE_PYTHON creates the clean virtualenvs (default python3.11); ML100K is the raw MovieLens
# folder for --all; KEEP=1 keeps the temporary folder. Timings print at the end (and go to
# RELEASE_CHECK_JSON when set), with the load average: on a shared machine they are noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
all=0
for arg in "$@"; do
    case "$arg" in
        --all) all=1 ;;
        *) echo "usage: $0 [--all]" >&2; exit 2 ;;
    esac
done
PYTHON=${PYTHON:-$repo/.venv/bin/python}
BASE_PYTHON=${BASE_PYTHON:-$(command -v python3.11 || command -v python3)}
ML100K=${ML100K:-$repo/../shared/data/ml-100k}

work=$(mktemp -d "${TMPDIR:-/tmp}/recsmith-release.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then echo "release-check: keeping $work" >&2; else trap 'rm -rf "$work"' EXIT; fi
step() { printf '\n== release-check: %s\n' "$*" >&2; }
fail() { echo "release-check: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
declare -A timing=()

version=$(PYTHONPATH="$repo/src" "$PYTHON" -c 'import recsmith; print(recsmith.__version__)')
grep -q "^## $version\b" CHANGELOG.md || fail "CHANGELOG.md has no '## $version' section"

# ---------------------------------------------------------------- 1. build and check
step "build $version (sdist, then the wheel from it)"
"$PYTHON" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; fail "python -m build"; }
wheel="$work/dist/recsmith-$version-py3-none-any.whl"
sdist="$work/dist/recsmith-$version.tar.gz"
[ -f "$wheel" ] && [ -f "$sdist" ] || fail "expected $(basename "$wheel") and $(basename "$sdist"), got: $(ls "$work/dist")"
"$PYTHON" -m twine check --strict "$wheel" "$sdist"
"$PYTHON" - "$wheel" "$repo/src/recsmith/configs" <<'PY'
import sys, zipfile
from pathlib import Path
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
configs = sorted(p.name for p in Path(sys.argv[2]).glob("*.yaml"))
missing = [c for c in configs if f"recsmith/configs/{c}" not in names]
stray = sorted(n for n in names if n.startswith(("tests/", "benchmarks/", "configs/")))
if missing or stray:
    sys.exit(f"wheel: packaged configs missing {missing}, files that do not belong {stray[:5]}")
print(f"wheel: {len(names)} files, the {len(configs)} packaged configs included")
PY

# ---------------------------------------------------------------- 2. core install, outside the repository
step "clean virtualenv, pip install the wheel (core only)"
"$BASE_PYTHON" -m venv "$work/core"
start=$(now)
"$work/core/bin/pip" install --quiet "$wheel"
timing[core_install_s]=$(seconds "$start" "$(now)")
core="$work/core/bin/recsmith"
mkdir "$work/run" && cd "$work/run"  # not the repository: no configs/ folder, no source tree

[ "$("$core" --version)" = "$version" ] || fail "recsmith --version is not $version"
"$core" models | tee models.txt
grep -Eq '^mf +.* +torch +no: pip install "recsmith\[torch\]"' models.txt || fail "recsmith models does not mark mf as needing [torch]"
grep -Eq '^ease +.* +- +yes' models.txt || fail "recsmith models does not mark ease as available"

step "recsmith demo from $PWD (the packaged demo config)"
start=$(now)
"$core" demo --out demo
timing[core_demo_s]=$(seconds "$start" "$(now)")
[ -f demo/run/leaderboard.json ] || fail "the demo wrote no leaderboard"

# a model, a command or a server whose extra is missing: one line naming the extra, exit status 5
expect_missing_extra() {
    local extra=$1; shift
    local status=0
    "$core" "$@" >out.txt 2>err.txt || status=$?
    local lines; lines=$(wc -l <err.txt)
    if [ "$status" -ne 5 ] || [ "$lines" -ne 1 ] || ! grep -qF "pip install \"recsmith[$extra]\"" err.txt \
        || grep -q Traceback err.txt; then
        cat err.txt >&2
        fail "recsmith $* (exit $status, $lines stderr lines): expected one line naming recsmith[$extra], exit 5"
    fi
    echo "missing [$extra] -> $(cat err.txt)"
}
step "models and commands whose extra is missing"
expect_missing_extra torch benchmark --data demo/data --models popular,mf --out runs/mf
expect_missing_extra torchrec benchmark --data demo/data --models two_tower --out runs/two_tower
expect_missing_extra torch train --data demo/data --config demo --out runs/train
expect_missing_extra serve export --run demo/run --model ease --out bundle
expect_missing_extra serve serve --bundle bundle
[ ! -e runs ] || fail "a run stopped for a missing extra left files in $PWD/runs"

# ---------------------------------------------------------------- 3. [all]: every model trains
if [ "$all" = 1 ]; then
    [ -f "$ML100K/u.data" ] || fail "--all needs MovieLens 100K at $ML100K (set ML100K)"
    step "clean virtualenv, pip install the wheel with [all], then the TorchRec step"
    torchrec_step=$(PYTHONPATH="$repo/src" "$PYTHON" -c 'from recsmith.utils.extras import TORCHREC_STEP; print(TORCHREC_STEP)')
    "$BASE_PYTHON" -m venv "$work/all"
    start=$(now)
    "$work/all/bin/pip" install --quiet "$wheel[all]"
    timing[all_install_s]=$(seconds "$start" "$(now)")
    start=$(now)
    # shellcheck disable=SC2086  # the step is a command line: "pip install --no-deps torchrec==... ..."
    "$work/all/bin/python" -m $torchrec_step --quiet
    timing[torchrec_step_s]=$(seconds "$start" "$(now)")
    full="$work/all/bin/recsmith"
    "$full" models | tee models-all.txt
    ! grep -q ' no: ' models-all.txt || fail "with [all] and the TorchRec step some models are unavailable"
    step "every model on ml-100k (config ml100k_every_model)"
    "$full" data prepare movielens-100k --path "$ML100K" --out data/ml100k
    start=$(now)
    "$full" benchmark --data data/ml100k --config ml100k_every_model --out runs/every_model
    timing[every_model_s]=$(seconds "$start" "$(now)")
    "$work/all/bin/python" - models-all.txt runs/every_model/leaderboard.json <<'PY'
import json, re, sys
# the table's rows: a model name padded by two or more spaces (not the header, not the footer lines)
rows = open(sys.argv[1]).read().splitlines()[1:]
listed = [line.split()[0] for line in rows if re.match(r"^\w+ {2,}", line)]
board = json.load(open(sys.argv[2]))
missing = sorted(set(listed) - set(board))
if missing:
    sys.exit(f"not trained on ml-100k: {missing}")
for name in listed:
    print(f"{name:<10} test ndcg@10 {board[name]['test']['ndcg@10']:.4f}  fit {board[name]['fit_seconds']:.1f} s")
PY
fi

# ---------------------------------------------------------------- summary
cd "$repo"
timing[wheel_bytes]=$(stat -c %s "$wheel")
timing[sdist_bytes]=$(stat -c %s "$sdist")
timing[core_venv_bytes]=$(du -sb "$work/core" | cut -f1)
[ "$all" = 1 ] && timing[all_venv_bytes]=$(du -sb "$work/all" | cut -f1)
step "passed: recsmith $version"
summary=$(for key in "${!timing[@]}"; do echo "$key=${timing[$key]}"; done | sort)
echo "$summary"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $("$BASE_PYTHON" --version), pip $("$work/core/bin/pip" --version | cut -d' ' -f2)"
if [ -n "${RELEASE_CHECK_JSON:-}" ]; then
    "$PYTHON" - "$RELEASE_CHECK_JSON" "$version" "$all" <<PY
import json, os, sys, time
from pathlib import Path
pairs = dict(line.split("=", 1) for line in """$summary""".splitlines())
record = {
    "command": "RELEASE_CHECK_JSON=" + sys.argv[1] + " bash scripts/release-check.sh" + (" --all" if sys.argv[3] == "1" else ""),
    "version": sys.argv[2],
    "date": time.strftime("%Y-%m-%d %H:%M"),
    "loadavg_1_5_15": [float(x) for x in open("/proc/loadavg").read().split()[:3]],
    "cores": os.cpu_count(),
    **{k: (int(v) if k.endswith("bytes") else float(v)) for k, v in pairs.items()},
}
Path(sys.argv[1]).write_text(json.dumps(record, indent=2) + "\n")
print(f"wrote {sys.argv[1]}")
PY
fi
