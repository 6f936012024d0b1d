"""The HTML report, opened in headless Chromium: summary, members, highlighted passages."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from dedup.cli import main

SEEDS = Path(__file__).parent / "data" / "seeds"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("DEDUP_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required here (DEDUP_REQUIRE_BROWSER is set)")
        pytest.skip("Debian's chromium and chromium-driver are needed (.ci/run installs them)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def seeds_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    pred, page = out / "pred.jsonl", out / "report.html"
    assert main(["cluster", str(SEEDS), "--out", str(pred), "--report", str(page), "--quiet"]) == 0
    return [json.loads(line) for line in pred.read_text().splitlines()], page


def test_report_summary_and_clusters_match_the_clustering(browser, seeds_report, tmp_path):
    from selenium.webdriver.common.by import By

    records, page = seeds_report
    browser.get(page.as_uri())
    number = lambda element_id: browser.find_element(By.CSS_SELECTOR, f"#{element_id} b").text
    assert number("stat-documents") == str(len(records))
    assert number("stat-copy") == str(len({r["cluster"] for r in records}))
    assert number("stat-story") == str(len({r["story"] for r in records}))
    clusters = browser.find_elements(By.CSS_SELECTOR, ".cluster")
    assert len(clusters) == len({r["cluster"] for r in records})
    clusters[0].click()  # the largest: the two NPR versions
    members = [row.get_attribute("data-id") for row in browser.find_elements(By.CSS_SELECTOR, "tr.member")]
    expected = {r["id"] for r in records if r["cluster"] == records[0]["cluster"]}
    assert set(members) == expected and len(members) == 2
    browser.save_screenshot(str(tmp_path / "clusters.png"))


def test_clicking_a_member_shows_shared_passages_and_boilerplate(browser, seeds_report, tmp_path):
    from selenium.webdriver.common.by import By

    _, page = seeds_report
    browser.get(page.as_uri())
    browser.find_elements(By.CSS_SELECTOR, ".cluster")[0].click()
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.member")
    rows[1].click()
    left = browser.find_elements(By.CSS_SELECTOR, "#left mark")
    right = browser.find_elements(By.CSS_SELECTOR, "#right mark")
    assert len(left) >= 5 and len(right) >= 5
    assert any("NATO membership for Ukraine" in m.text for m in right)
    assert browser.find_elements(By.CSS_SELECTOR, "#right .boiler")  # the NPR page chrome
    browser.save_screenshot(str(tmp_path / "pair.png"))
    assert (tmp_path / "pair.png").stat().st_size > 10_000


def test_filter_finds_clusters_by_text(browser, seeds_report):
    from selenium.webdriver.common.by import By

    _, page = seeds_report
    browser.get(page.as_uri())
    browser.find_element(By.ID, "search").send_keys("004_a599")
    shown = browser.find_elements(By.CSS_SELECTOR, ".cluster")
    assert len(shown) == 1 and "000_ce957f3f4da170df.txt" in shown[0].text


def test_report_command_rebuilds_the_page_from_predictions(tmp_path, seeds_report):
    records, _ = seeds_report
    pred = tmp_path / "pred.jsonl"
    pred.write_text("\n".join(json.dumps(r) for r in records))
    out = tmp_path / "again.html"
    assert main(["report", str(pred), str(SEEDS), "--out", str(out)]) == 0
    text = out.read_text()
    assert '"documents": 5' in text and "</script>" in text
