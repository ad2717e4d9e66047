"""``recsmith app`` in a real browser (Debian's headless Chromium driven by Playwright) on a small demo
run: the page renders, a chosen user gets 10 recommendations with item names, a recommendation's
explanation opens, a text search finds items, bad input gives a message, and the page never asks
for anything outside the app (it runs offline). Skips with the reason when the browser is absent."""

from __future__ import annotations

import re
import time

import pytest

from recsmith.app.browser import app_process, browser_page, choose_user, missing_browser, table_rows
from recsmith.config import validate_config
from recsmith.pipelines.demo import run_demo
from recsmith.runs.layout import Run

#: a demo run small enough to build in seconds (the synthetic H&M-like catalogue)
SMALL_DEMO = {
    "seed": 0,
    "data": {"source": "synthetic", "options": {"n_customers": 300, "n_articles": 200, "n_transactions": 4000}},
    "split": {"method": "loo", "valid": True},
    "models": {"popular": {}, "itemknn": {"k": 50}, "als": {"factors": 16, "iterations": 5}},
    "evaluation": {"ks": [10], "bootstrap": 0, "select_metric": "ndcg@10"},
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("app-demo")
    run_demo(validate_config(SMALL_DEMO), list(SMALL_DEMO["models"]), root, n_users=1)
    return root / "run"


def wait_rows(page, table: str, n: int = 1, timeout_ms: int = 90_000) -> None:
    page.wait_for_function(f"document.querySelectorAll('{table} [role=row]').length > {n}", timeout=timeout_ms)


def test_the_app_in_a_browser(demo_run, tmp_path) -> None:
    run = Run.open(demo_run)
    user = run.user_map.to_external([7])[0]
    with app_process(["--run", str(demo_run)], tmp_path / "app.log") as app, browser_page(app.url) as (page, requests):
        page.goto(app.url)
        page.wait_for_selector("#user-id input")
        # the page opens on the first model that explains (itemknn) and the first user
        wait_rows(page, "#recs-a")
        choose_user(page, user)
        page.wait_for_function(f"document.querySelector('#user-status').innerText.includes('{user}')", timeout=60_000)
        time.sleep(0.5)  # the table updates with the status
        recs = table_rows(page, "#recs-a")
        assert len(recs) == 10, recs
        names = {run.item_map.to_external([i])[0]: n for i, n in run.item_names.items()}
        for rank, (shown_rank, item_id, name, _score, _because) in enumerate(recs, 1):
            assert int(shown_rank) == rank and name and name == names[item_id]
        assert recs[0][4], "the first recommendation says which history items it comes from"
        assert "Recommendations: itemknn" in page.inner_text("#recs-a")
        # click the second recommendation: its explanation opens, reasons are items of the user's history
        page.locator("#recs-a [role=gridcell][data-row='1'][data-col='2']").click()
        page.wait_for_function(
            "document.querySelector('#explanation').innerText.includes('recommends #2')", timeout=30_000
        )
        explanation = page.inner_text("#explanation")
        assert recs[1][1] in explanation and "item-item weight" in explanation
        reasons = table_rows(page, "#reasons")
        history = {r[1] for r in table_rows(page, "#history")}
        assert reasons and {r[1] for r in reasons} <= history
        # a text search over the catalogue (the packaged MiniLM encoder, offline)
        page.get_by_role("tab", name="Search").click()
        query = page.locator("#query textarea")
        query.fill("jersey")
        query.press("Enter")
        wait_rows(page, "#search-results")
        found = table_rows(page, "#search-results")
        assert len(found) == 10 and all(name for _, name, _ in found)
        assert any("jersey" in name.lower() for _, name, _ in found)
        # bad input: a message on the page, and the page keeps working
        query.fill("x" * 10_000)
        page.locator("#search-go").click()
        page.wait_for_function(
            "document.querySelector('#search-status').innerText.includes('characters long')", timeout=30_000
        )
        assert "Traceback" not in page.content()
        assert re.search(r"10,000 characters long", page.inner_text("#search-status"))
        assert requests.all and not requests.outside, f"requests outside the app: {requests.outside[:5]}"
    assert "Traceback" not in app.log.read_text()
