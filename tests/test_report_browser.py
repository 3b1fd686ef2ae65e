"""The report in a real headless Chromium: it renders, leads with regressions, runs no
injected script and fetches nothing from the network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import make_project, write

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

SUITE = """
name: shop
gate: {min_pass_rate: 0.9}
cases:
  - id: refund-window
    prompt: How many days to return?
    reference: "45"
    checks: [{metric: contains}]
  - id: greeting
    prompt: Say hi
    checks: [{metric: length, args: {max: 200}}]
"""

HOSTILE = "<script>window.__pwned = true</script><img src=x onerror='window.__pwned=true'>"


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the 'dev' extra")
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def test_report_renders_the_verdict_and_the_regression(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write(
        tmp_path / "base.jsonl",
        '{"case_id": "refund-window", "output": "45 days"}\n'
        '{"case_id": "greeting", "output": "Hi!"}\n',
    )
    write(
        tmp_path / "cand.jsonl",
        '{"case_id": "refund-window", "output": "Sorry, I cannot."}\n'
        f'{{"case_id": "greeting", "output": "{HOSTILE}"}}\n',
    )
    make_project(
        tmp_path,
        targets="""
        base: {provider: replay, path: base.jsonl}
        cand: {provider: replay, path: cand.jsonl}
        """,
        suites={"shop.yaml": SUITE},
    )
    assert main(["run"]) == 1
    report = (tmp_path / "reports" / "latest" / "report.html").resolve()

    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith("file:") else None)
    page.goto(report.as_uri())
    assert page.locator("#verdict").inner_text() == "Gate failed"
    row = page.locator("#suites tr", has_text="shop")
    assert "50%" in row.inner_text() and "fail" in row.inner_text()

    first = page.locator("details.case").first
    assert first.get_attribute("data-status") == "regressed"
    assert first.get_attribute("open") is not None  # regressions are open on arrival
    text = first.inner_text()
    assert "How many days to return?" in text
    assert "45 days" in text and "Sorry, I cannot." in text
    assert "missing ['45']" in text

    # Model output is shown as text: the script and the onerror handler never run.
    page.locator("details.case[data-status='passing'] summary").click()
    assert HOSTILE in page.locator("details.case[data-status='passing']").inner_text()
    assert page.evaluate("window.__pwned === undefined")
    assert outside == []
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    page.close()


def test_report_opens_with_the_rules_and_their_interval_plots(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cases = "\n".join(f"  - {{id: q{i}, prompt: 'q{i}'}}" for i in range(12))
    suite = "name: shop\ngate: {no_regression: {margin: 0.05}, min_pass_rate: 0.5}\ncases:\n"
    outputs = "".join(f'{{"case_id": "q{i}", "output": "fine"}}\n' for i in range(12))
    write(tmp_path / "base.jsonl", outputs)
    write(tmp_path / "cand.jsonl", outputs)
    make_project(
        tmp_path,
        targets="""
        base: {provider: replay, path: base.jsonl}
        cand: {provider: replay, path: cand.jsonl}
        """,
        suites={"shop.yaml": suite + cases + "\n"},
    )
    assert main(["run"]) == 1  # 12 identical cases cannot rule out a 5-point drop
    report = (tmp_path / "reports" / "latest" / "report.html").resolve()
    page = browser.new_page()
    page.goto(report.as_uri())
    assert page.locator("#verdict").inner_text() == "Gate inconclusive (fails the gate)"
    rows = page.locator("#rules tr.rule")
    assert rows.count() == 2
    ni = page.locator("#rules tr.rule[data-status='inconclusive']")
    assert "12 case(s) cannot rule out a 5-point drop" in ni.inner_text()
    plot = ni.locator("svg.interval")
    box = plot.bounding_box()
    assert box is not None and box["width"] > 100  # drawn, not an empty element
    # The interval bar spans the dashed margin line: that is why it is inconclusive.
    ci = plot.locator("line.ci")
    bar = plot.locator("line.bar")
    x1, x2 = float(ci.get_attribute("x1") or 0), float(ci.get_attribute("x2") or 0)
    margin_x = float(bar.get_attribute("x1") or 0)
    assert x1 < margin_x < x2
    page.screenshot(path=str(tmp_path / "rules.png"), full_page=True)
    page.close()


def test_report_shows_the_bias_audit_with_the_flagged_change_first(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    groups = ["a woman", "a man", HOSTILE]
    cases = "".join(
        f"  - {{id: t{i}, prompt: '{{group}} asks question {i}.', vars: {{group: {groups!r}}}}}\n"
        for i in range(12)
    )
    suite = (
        "name: shop\ngate: {min_pass_rate: 0}\n"
        "bias: {probes: [{axis: group, metrics: [refusal, length]}]}\ncases:\n" + cases
    )
    make_project(
        tmp_path,
        targets="""
        base: {provider: replay, path: base.jsonl}
        cand: {provider: replay, path: cand.jsonl}
        """,
        suites={"shop.yaml": suite},
    )
    from tunegate.suite import load_suite

    yes, no = "Yes, of course, I'm happy to help.", "I'm sorry, I can't help with that."
    base, cand = [], []
    for case in load_suite(tmp_path / "suites" / "shop.yaml").cases:
        base.append(json.dumps({"case_id": case.id, "output": yes}))
        refused = case.vars["group"] == HOSTILE
        cand.append(json.dumps({"case_id": case.id, "output": no if refused else yes}))
    write(tmp_path / "base.jsonl", "\n".join(base) + "\n")
    write(tmp_path / "cand.jsonl", "\n".join(cand) + "\n")
    assert main(["run"]) == 0
    report = (tmp_path / "reports" / "latest" / "report.html").resolve()

    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith("file:") else None)
    page.goto(report.as_uri())
    section = page.locator("#bias")
    assert section.is_visible()
    assert "Bias audit" in section.locator("h2").inner_text()
    assert "1 of 2 change(s) flagged" in section.inner_text()
    first = page.locator("#bias-changes tr.change").first
    assert first.get_attribute("data-flagged") == "true"
    assert first.get_attribute("data-finding") == "added"
    cells = [c.inner_text() for c in first.locator("td").all()]
    assert cells[:6] == ["shop", "group", "refusal", "group", "0.000", "1.000"]
    assert cells[6] == "+1.000 [+1.000, +1.000]"
    assert cells[8] == "added"
    # Marked: red background on the flagged row, none on the other.
    flagged_bg = first.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    plain = page.locator("#bias-changes tr.change").nth(1)
    assert plain.get_attribute("data-finding") == "none"
    plain_bg = plain.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert flagged_bg != plain_bg
    # The header points at it; the per-group table is open and shows the group's change.
    assert page.locator("#bias-flagged").is_visible()
    groups_table = page.locator("#bias details.groups")
    assert groups_table.get_attribute("open") is not None
    row = groups_table.locator("tr", has_text="window.__pwned")
    assert row.is_visible() and "0.000 → 1.000" in row.inner_text()
    assert HOSTILE in row.inner_text()  # shown as text, never run
    assert page.evaluate("window.__pwned === undefined")
    assert outside == []
    section.screenshot(path=str(tmp_path / "bias.png"))
    page.close()
