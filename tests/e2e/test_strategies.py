"""The strategy editor in a real browser: errors at their lines, new versions, diff, create."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from strategies import services
from strategies.dsl import examples
from strategies.models import Strategy
from tests.conftest import _member
from tests.helpers import log_in
from workspaces.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def line_of(text: str, fragment: str) -> int:
    """1-based number of the only line of `text` containing `fragment`."""
    [number] = [n for n, line in enumerate(text.split("\n"), 1) if fragment in line]
    return number


def test_break_validate_fix_and_save_a_new_version(live_server, page, workspace):
    trader = _member(workspace, Role.TRADER)
    strategy = services.create_strategy(
        workspace=workspace, actor=trader, name="Trend", body=examples()["sma_crossover"]
    )
    log_in(page, live_server, trader.username)
    page.goto(f"{live_server.url}/strategies")
    page.click(f'#strategies-table tr[data-strategy-id="{strategy.pk}"] a')
    page.wait_for_url(f"{live_server.url}/strategies/{strategy.pk}")

    original = page.input_value("#body-editor")
    assert json.loads(original) == examples()["sma_crossover"]
    expect(page.locator('#versions-table tr[data-number="1"]')).to_be_visible()

    # Break the slow SMA's period (schema) and a reference (semantics), then validate.
    broken = original.replace('"period": 30', '"period": 0').replace(
        '"ind": "slow"\n        }\n      ]\n    }\n  },',
        '"ind": "slwo"\n        }\n      ]\n    }\n  },',
    )
    assert broken.count('"slwo"') == 1
    page.fill("#body-editor", broken)
    page.click("#validate-button")
    period = page.locator('#body-errors li[data-pointer="/indicators/1/period"]')
    expect(period).to_contain_text("Must be at least 1.")
    period_line = line_of(broken, '"period": 0')
    assert period.get_attribute("data-line") == str(period_line)
    reference = page.locator('#body-errors li[data-pointer="/exit/signal/crosses_below/1/ind"]')
    expect(reference).to_contain_text("slwo")
    reference_line = line_of(broken, '"slwo"')
    assert reference.get_attribute("data-line") == str(reference_line)
    marked = page.locator("#gutter-lines div.err").all_inner_texts()
    assert marked == [str(period_line), str(reference_line)]
    expect(page.locator("#editor-status .err")).to_be_visible()

    # Clicking an error puts the cursor on its line, where the hint repeats the error.
    period.locator("button").click()
    expect(page.locator("#cursor-hint")).to_contain_text("/indicators/1/period")

    # Fix both (with a new period) and save as a new version.
    fixed = original.replace('"period": 30', '"period": 20')
    page.fill("#body-editor", fixed)
    page.click("#validate-button")
    expect(page.locator("#editor-status .ok")).to_be_visible()
    expect(page.locator("#body-errors-box")).to_be_hidden()
    expect(page.locator("#gutter-lines div.err")).to_have_count(0)
    page.click("#save-version-button")

    expect(page.locator('#versions-table tr[data-number="2"]')).to_be_visible()
    expect(page.locator("#latest-badge")).to_have_text("v2")
    versions = {v.number: v for v in Strategy.objects.get(pk=strategy.pk).versions.all()}
    assert versions[2].body["indicators"][1]["period"] == 20
    assert versions[1].body == examples()["sma_crossover"]

    # The diff of v1 → v2 shows exactly the changed period.
    page.click("#diff-button")
    expect(page.locator("#diff-summary")).to_contain_text("v1 → v2: +1 \u22121")  # a minus sign
    expect(page.locator("#diff-output .row.del")).to_have_text(re.compile(r'"period": 30,'))
    expect(page.locator("#diff-output .row.add")).to_have_text(re.compile(r'"period": 20,'))


def test_a_syntax_error_is_marked_at_its_line(live_server, page, workspace):
    trader = _member(workspace, Role.TRADER)
    strategy = services.create_strategy(
        workspace=workspace, actor=trader, name="Trend", body=examples()["sma_crossover"]
    )
    log_in(page, live_server, trader.username)
    page.goto(f"{live_server.url}/strategies/{strategy.pk}")
    original = page.input_value("#body-editor")
    broken = original.replace('"timeframe": "1m",', '"timeframe": "1m"')
    page.fill("#body-editor", broken)
    page.click("#validate-button")
    error = page.locator("#body-errors li").first
    # The parser stops at the next key, on the line after the missing comma.
    assert error.get_attribute("data-line") == str(line_of(broken, '"side"'))
    assert page.locator("#gutter-lines div.err").all_inner_texts() == [
        str(line_of(broken, '"side"'))
    ]
    assert Strategy.objects.get(pk=strategy.pk).versions.count() == 1


def test_create_a_strategy_from_an_example(live_server, page, workspace):
    trader = _member(workspace, Role.TRADER)
    log_in(page, live_server, trader.username)
    page.goto(f"{live_server.url}/strategies")
    expect(page.locator("#strategies-state .empty")).to_be_visible()
    page.click("#new-strategy")
    page.wait_for_url(f"{live_server.url}/strategies/new")
    expect(page.locator("#reference details").first).to_be_visible()

    page.click('#examples [data-example="rsi_mean_reversion"]')
    assert json.loads(page.input_value("#body-editor")) == examples()["rsi_mean_reversion"]
    page.click("#create-button")  # no name yet: the error appears under the name field
    expect(page.locator("#details-form .field.has-error .field-error")).to_be_visible()

    page.fill("#strategy-name", "Dip buyer")
    page.click("#create-button")
    page.wait_for_url(re.compile(r".*/strategies/[0-9a-f-]{36}$"))
    created = Strategy.objects.get(workspace=workspace, name="Dip buyer")
    assert created.versions.get().body == examples()["rsi_mean_reversion"]
    expect(page.locator('#versions-table tr[data-number="1"]')).to_be_visible()

    page.goto(f"{live_server.url}/strategies")
    expect(page.locator(f'#strategies-table tr[data-strategy-id="{created.pk}"]')).to_contain_text(
        "ETH/USDT"
    )
