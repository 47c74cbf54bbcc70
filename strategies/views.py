"""Web pages of strategies: the list, and the editor of a new or an existing strategy.

The pages render the workspace's strategy (if any), the DSL's examples and their translated
texts; the page's script (static/js/strategies.js) does the rest through the REST API, so the
pages and API clients go through the same validation and the same services.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from strategies import selectors
from strategies.dsl import DSL_VERSION, examples
from workspaces.pages import workspace_page
from workspaces.ui import page_context

# Titles of the bundled examples (strategies/dsl/examples/<name>.json), in the editor's list.
EXAMPLE_TITLES = {
    "sma_crossover": gettext_lazy("SMA crossover"),
    "rsi_mean_reversion": gettext_lazy("RSI mean reversion"),
    "macd_trend": gettext_lazy("MACD trend"),
    "bollinger_breakout": gettext_lazy("Bollinger breakout"),
    "atr_trailing_stop": gettext_lazy("ATR trailing stop"),
}
# The example a new strategy starts from.
STARTER_EXAMPLE = "sma_crossover"


def _texts() -> dict[str, str]:
    """Strings the page's script shows, translated into the request's language."""
    return {
        "loading": _("Loading"),
        "loadError": _("Could not load the data."),
        "noStrategies": _("No strategies yet. Create one from an example."),
        "noVersions": _("No versions yet."),
        "line": _("line"),
        "column": _("column"),
        "unexpectedEnd": _("The text ends too early."),
        "unexpectedChar": _("Unexpected character"),
        "expectedKey": _("Expected a field name in double quotes."),
        "expectedColon": _("Expected ':' after the field name."),
        "expectedCommaBrace": _("Expected ',' or '}'."),
        "expectedCommaBracket": _("Expected ',' or ']'."),
        "badString": _("Unterminated or invalid string."),
        "badNumber": _("Invalid number."),
        "trailing": _("Unexpected text after the end of the document."),
        "unchangedLines": _("unchanged lines"),
        "syntaxError": _("JSON syntax error"),
        "duplicateKey": _("Duplicate key"),
        "valid": _("The body is valid."),
        "warmup": _("candles before the first possible signal"),
        "lookback": _("candles a bot loads at start"),
        "errorsFound": _("Errors found"),
        "validating": _("Validating"),
        "saving": _("Saving"),
        "savedVersion": _("Saved as version"),
        "created": _("Strategy created"),
        "detailsSaved": _("Details saved."),
        "confirmDelete": _("Delete this strategy and all its versions?"),
        "confirmReplace": _("Replace the editor's unsaved text?"),
        "unsaved": _("Unsaved changes"),
        "editingFrom": _("Based on version"),
        "open": _("Open in editor"),
        "latest": _("latest"),
        "same": _("The two versions are identical."),
        "pickTwo": _("Pick two versions to compare."),
        "bodyFields": _("Body fields"),
        "indicators": _("Indicators"),
        "conditions": _("Conditions"),
        "operands": _("Operands"),
        "exitRules": _("Exit rules"),
        "sizing": _("Sizing"),
        "required": _("required"),
        "cursorHint": _("At the cursor"),
        "noHint": _("Put the cursor on a field to see its description."),
    }


def _examples() -> list[dict]:
    """The bundled examples, titled ones in EXAMPLE_TITLES' order (simplest first)."""
    bodies = examples()
    order = [name for name in EXAMPLE_TITLES if name in bodies]
    order += sorted(name for name in bodies if name not in EXAMPLE_TITLES)
    return [
        {"name": name, "title": str(EXAMPLE_TITLES.get(name, name)), "body": bodies[name]}
        for name in order
    ]


@workspace_page
def strategies_page(request, *, workspace):
    """The workspace's strategies (loaded by the page's script) and the way to a new one."""
    return render(request, "strategies/list.html", page_context(request, texts=_texts()))


def _editor(request, strategy) -> dict:
    """Context of the editor: the strategy and its latest version (None for a new one)."""
    context = page_context(request, texts=_texts())
    context.update(
        {
            "strategy": strategy,
            "latest": selectors.latest_version(strategy=strategy) if strategy else None,
            "examples": _examples(),
            "starter": STARTER_EXAMPLE,
            "dsl_version": DSL_VERSION,
        }
    )
    return context


@workspace_page
def strategy_new_page(request, *, workspace):
    """The editor for a new strategy, starting from the starter example."""
    return render(request, "strategies/editor.html", _editor(request, None))


@workspace_page
def strategy_page(request, strategy_id, *, workspace):
    """The editor of one strategy of the current workspace, holding its latest version."""
    strategy = get_object_or_404(selectors.strategies(workspace=workspace), pk=strategy_id)
    return render(request, "strategies/editor.html", _editor(request, strategy))
