"""The decision page in a real browser: headless Chromium opens the email's link, a person
types a name and clicks Approve, and the result page says the run was approved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from redrive_local.engine import LocalEngine
from tests.support.executions import wait_for_execution
from tests.support.rules import AMOUNT_AS_NUMBER

from . import webdriver
from .test_approval import report_of, waiting_run


@pytest.fixture
def browser() -> webdriver.Browser:
    if not webdriver.available():
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium and chromium-driver (make setup installs them)")
        pytest.skip("Debian's chromium and chromium-driver are not installed (make setup installs them)")
    driver = webdriver.Browser()
    yield driver  # type: ignore[misc]
    driver.close()


def test_a_person_approves_in_a_browser(engine: LocalEngine, browser: webdriver.Browser, tmp_path: Path) -> None:
    rehearsal, arn, email = waiting_run(engine, {"rules": [AMOUNT_AS_NUMBER]})
    browser.get(str(email.link))
    assert browser.title() == "Approve this redrive?"
    assert "Rule amount-as-number: repair x2" in browser.text_of("#summary")
    assert engine.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
    (tmp_path / "decision-page.png").write_bytes(browser.screenshot_png())

    browser.type_into("input[name=name]", "Robin")
    browser.type_into("textarea[name=comment]", "checked the samples")
    browser.click("#approve")
    assert browser.wait_for_title("Redrive approved") == "Redrive approved"
    assert "Thank you, Robin" in browser.text_of("#message")

    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"
    report = report_of(engine, rehearsal, arn)
    assert report["approval"]["decidedBy"] == "Robin"
    assert report["approval"]["comment"] == "checked the samples"
    assert report["counts"]["redriven"] == 2
