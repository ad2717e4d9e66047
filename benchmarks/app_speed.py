"""How fast ``recsmith app`` starts on the demo run, in a real browser (issue 16's <= 3 s target).

Builds the demo run once (``recsmith demo --config configs/demo.yaml``: synthetic H&M-like data,
popular / itemknn / ease / als / bpr / random) under ``--work``, then ``--repeats`` times: starts
``recsmith app --run``, waits until it answers HTTP, opens the page in headless Chromium
(:mod:`recsmith.app.browser`) and waits until the first page is rendered (the user picker shown), then
until the first user's recommendations with explanations are in. Times count from the process start.
``--screenshot FILE`` also saves a picture of the page (a user, their list, an explanation) as a small
palette PNG (docs/app.png). The load average is stored with the results: the machine is shared.

    python benchmarks/app_speed.py
    python benchmarks/app_speed.py --screenshot docs/app.png
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def build_demo(work: Path) -> Path:
    from recsmith.cli.main import main

    if not (work / "run" / "run.json").exists():
        assert main(["demo", "--config", str(ROOT / "configs" / "demo.yaml"), "--out", str(work)]) == 0
    return work / "run"


def one_start(run: Path, work: Path, screenshot: Path | None) -> dict[str, float]:
    from recsmith.app.browser import app_process, browser_page, choose_user, table_rows

    with app_process(["--run", str(run)], work / "app.log") as app, browser_page(app.url) as (page, requests):
        page.goto(app.url)
        page.wait_for_selector("#user-id input")
        rendered = time.monotonic()
        page.wait_for_function("document.querySelectorAll('#recs-a [role=row]').length > 1", timeout=120_000)
        first_list = time.monotonic()
        times = {
            "listening_s": round(app.listening - app.started, 2),
            "first_page_s": round(rendered - app.started, 2),
            "first_page_after_listening_s": round(rendered - app.listening, 2),
            "first_list_s": round(first_list - app.started, 2),
            "requests_outside_app": len(requests.outside),
        }
        if screenshot is not None:
            take_screenshot(page, run, screenshot, choose_user, table_rows)
    return times


def take_screenshot(page, run: Path, out: Path, choose_user, table_rows) -> None:
    from PIL import Image

    from recsmith.runs.layout import Run

    user = Run.open(run).user_map.to_external([42])[0]
    page.locator("#model-b input").click()
    page.get_by_role("option", name="ease").click()
    choose_user(page, user)
    page.wait_for_function(f"document.querySelector('#user-status').innerText.includes('{user}')", timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#recs-b [role=row]').length > 1", timeout=60_000)
    time.sleep(1.0)
    page.locator("#recs-a [role=gridcell][data-row='0'][data-col='2']").click()
    page.wait_for_function("document.querySelector('#explanation').innerText.includes('recommends #1')")
    time.sleep(1.0)
    raw = out.with_suffix(".raw.png")
    page.screenshot(path=str(raw), full_page=True)
    image = Image.open(raw).convert("RGB")
    image.thumbnail((1100, 2000))
    image.quantize(colors=64).save(out, optimize=True)  # a palette PNG: a few hundred KB at most
    raw.unlink()
    print(f"screenshot: {out} ({out.stat().st_size // 1024} KB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=Path("/tmp/recsmith-app-speed"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "app_speed.json")
    args = parser.parse_args()
    from recsmith.app.browser import missing_browser

    if reason := missing_browser():
        sys.exit(reason)
    args.work.mkdir(parents=True, exist_ok=True)
    run = build_demo(args.work)
    runs = []
    for i in range(args.repeats):
        times = one_start(run, args.work, args.screenshot if i == args.repeats - 1 else None)
        times["load_average"] = load()
        print(times, flush=True)
        runs.append(times)
    keys = ["listening_s", "first_page_s", "first_page_after_listening_s", "first_list_s"]
    median = {k: statistics.median(r[k] for r in runs) for k in keys}
    result = {"run": "configs/demo.yaml", "repeats": runs, "median": median}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("\n| from process start | median s |\n|---|---|")
    for k in keys:
        print(f"| {k} | {median[k]} |")
    print(f"load averages: {[r['load_average'] for r in runs]}")


if __name__ == "__main__":
    main()
