"""Benchmark of the H&M preparation: recsmith (Polars + DuckDB, out of core) against pandas.

    python benchmarks/data_prep.py                  # everything (needs ~40 GB of disk for the 5x data)
    python benchmarks/data_prep.py --skip-5x        # only the full-scale comparison

1. Full H&M scale (31,788,324 transactions; the synthetic files of ``recsmith data synth hm``):
   wall time, CPU time and peak RSS of ``recsmith data prepare hm --raw DIR --out DIR`` (read CSV ->
   check -> encode -> time features -> split -> sequences -> write).
2. The same steps in pandas (``benchmarks/pandas_reference.py``) on the same input, under a memory
   watchdog (``--pandas-memory-gb``): when it is killed or fails, it runs on the largest fraction of
   the transactions that finishes (halving), and the table says so.
3. 5x H&M scale (about 159M transactions) prepared under a hard cap of ``--cap-gb`` of address space
   for the process (``prlimit --as``); it must complete.

Peak RSS is the largest sum of the resident memory of the process tree, sampled every 50 ms, and at
least the kernel's own peak for the largest process (``ru_maxrss``). The machine's load average
is recorded before each run: other work on the machine slows the wall times.
Prints a table and writes ``benchmarks/results/data_prep.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECSMITH = [sys.executable, "-m", "recsmith.cli.main"]
GB = 1 << 30
# Under an address-space limit (prlimit --as) the allocators must not keep freed address space:
# glibc's per-thread arenas (64 MB of address space each) and the retained mappings of the
# jemalloc that Polars links. A cgroup limit counts resident memory and needs neither setting.
CAPPED_ENV = {"MALLOC_ARENA_MAX": "2", "_RJEM_MALLOC_CONF": "retain:false"}


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def measure(cmd: list[str], *, limit_bytes: int | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; wall and CPU seconds, peak RSS of the tree; kill it above ``limit_bytes``."""
    load = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    peak, killed = 0, False
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
    reader.start()
    while True:  # reap with wait4 (not Popen.poll) to get the child's own resource usage
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss = tree_rss(proc.pid)
        peak = max(peak, rss)
        if limit_bytes is not None and rss > limit_bytes and not killed:
            killed = True
            proc.kill()
        time.sleep(0.05)
    wall = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    reader.join(timeout=5)
    return {
        "cmd": " ".join(cmd),
        "returncode": code,
        "killed_over_limit": killed,
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_gb": round(max(peak, usage.ru_maxrss * 1024) / GB, 2),
        "load_before": [round(x, 2) for x in load],
        "output_tail": "".join(output)[-3000:],
    }


def ensure_data(path: Path, scale: float) -> None:
    if (path / "transactions_train.csv").exists():
        return
    print(f"generating {path} (scale {scale}) ...", flush=True)
    cmd = [*RECSMITH, "data", "synth", "hm", "--scale", str(scale), "--out", str(path), "--overwrite"]
    subprocess.run(cmd, cwd=ROOT, check=True, env={**os.environ, "RECSMITH_PROGRESS": "0"})


def run_recsmith(raw: Path, out: Path, cap_bytes: int | None = None) -> dict[str, Any]:
    cmd = [*RECSMITH, "data", "prepare", "hm", "--raw", str(raw), "--out", str(out), "--overwrite"]
    env = {"RECSMITH_PROGRESS": "0"}
    if cap_bytes is not None:
        cmd = ["prlimit", f"--as={cap_bytes}", "--", *cmd]
        env.update(CAPPED_ENV)
    result = measure(cmd, env=env)
    result["env"] = {k: v for k, v in env.items() if k != "RECSMITH_PROGRESS"}
    manifest = out / "manifest.json"
    if result["returncode"] == 0 and manifest.exists():
        m = json.loads(manifest.read_text())
        result["counts"] = m["counts"]
        result["steps_s"] = m.get("timings", {})
    return result


def run_pandas(raw: Path, out: Path, limit_bytes: int) -> dict[str, Any]:
    fraction = 1.0
    while fraction >= 1 / 64:
        cmd = [sys.executable, "benchmarks/pandas_reference.py", "--raw", str(raw), "--out", str(out),
               "--fraction", str(fraction)]  # fmt: skip
        result = measure(cmd, limit_bytes=limit_bytes)
        result["fraction"] = fraction
        if result["returncode"] == 0 and not result["killed_over_limit"]:
            with contextlib.suppress(ValueError, IndexError):
                result["steps_s"] = json.loads(result["output_tail"].strip().splitlines()[-1])
            return result
        why = "over the memory limit" if result["killed_over_limit"] else "failed"
        print(f"pandas did not finish on {fraction:.0%} of the transactions ({why}); halving", flush=True)
        fraction /= 2
    return result


def table(results: dict[str, Any]) -> str:
    rows = [("run", "rows", "wall s", "CPU s", "peak RSS GB", "load (1 min) before", "status")]
    for name, r in results.items():
        if not isinstance(r, dict) or "wall_s" not in r:
            continue
        rows_n = r.get("counts", {}).get("interactions") or r.get("steps_s", {}).get("rows") or "-"
        status = "ok" if r["returncode"] == 0 and not r["killed_over_limit"] else (
            "killed over memory limit" if r["killed_over_limit"] else f"exit {r['returncode']}")  # fmt: skip
        if r.get("fraction", 1.0) < 1.0:
            status += f" ({r['fraction']:.0%} of the transactions)"
        rows.append((name, f"{rows_n:,}" if isinstance(rows_n, int) else rows_n, r["wall_s"], r["cpu_s"],
                     r["peak_rss_gb"], r["load_before"][0], status))  # fmt: skip
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--pandas-memory-gb", type=float, default=16.0, help="kill pandas above this RSS")
    parser.add_argument("--cap-gb", type=float, default=6.0, help="address-space cap of the 5x run")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--skip-1x", action="store_true", help="only the 5x run (other results are kept)")
    parser.add_argument("--skip-5x", action="store_true")
    parser.add_argument("--keep-outputs", action="store_true", help="keep the prepared directories")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "data_prep.json")
    args = parser.parse_args()

    data = args.data_dir
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}  # runs skipped: kept
    results.update({
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })  # fmt: skip
    if not args.skip_1x:
        ensure_data(data / "hm-1x", 1)
        print("recsmith, full H&M scale ...", flush=True)
        results["recsmith_1x"] = run_recsmith(data / "hm-1x", data / "prep-1x")
    if not args.skip_1x and not args.skip_pandas:
        print("pandas reference, full H&M scale ...", flush=True)
        results["pandas_1x"] = run_pandas(data / "hm-1x", data / "pandas-1x", int(args.pandas_memory_gb * GB))
        r, p = results["recsmith_1x"], results["pandas_1x"]
        if r["returncode"] == 0 and p["returncode"] == 0:
            results["ratios"] = {
                "pandas_fraction": p["fraction"],
                "time_pandas_over_recsmith": round(p["wall_s"] / r["wall_s"], 2),
                "cpu_pandas_over_recsmith": round(p["cpu_s"] / r["cpu_s"], 2),
                "memory_recsmith_over_pandas": round(r["peak_rss_gb"] / p["peak_rss_gb"], 3),
            }
    if not args.skip_5x:
        ensure_data(data / "hm-5x", 5)
        print(f"recsmith, 5x H&M scale under a {args.cap_gb} GB address-space cap ...", flush=True)
        results["recsmith_5x_capped"] = run_recsmith(data / "hm-5x", data / "prep-5x", int(args.cap_gb * GB))
        results["recsmith_5x_capped"]["cap_gb"] = args.cap_gb
    if not args.keep_outputs:
        for name in ("prep-1x", "pandas-1x", "prep-5x"):
            shutil.rmtree(data / name, ignore_errors=True)

    print()
    print(table(results))
    if "ratios" in results:
        print(json.dumps(results["ratios"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
