"""Every text the product shows is marked for translation and translated in every language.

One test module for all pages. Msgids are found the way `makemessages` finds them: templates
through Django's own `templatize`, Python through the gettext calls in its syntax tree (the
texts views hand to page scripts included). Each is checked against the catalogue that owns it:
an app's templates (`templates/<app>/`) and code use `<app>/locale` when the app has one; the
shared pages and the apps without a catalogue use the project's `locale/`.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import defaultdict
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.apps import apps
from django.conf import settings
from django.template.base import Lexer, TokenType
from django.utils import translation
from django.utils.translation.template import templatize

BASE = Path(settings.BASE_DIR).resolve()
PROJECT = "project"  # the owner of the project catalogue, settings.LOCALE_PATHS[0]
# Msgids are the English texts, so English pages need no catalogue; every other language does.
SOURCE_LANGUAGE = "en"
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != SOURCE_LANGUAGE]

GETTEXT_CALLS = frozenset(
    {
        "_",
        "gettext",
        "gettext_lazy",
        "gettext_noop",
        "ngettext",
        "ngettext_lazy",
        "pgettext",
        "pgettext_lazy",
        "npgettext",
        "npgettext_lazy",
    }
)
# templatize() writes every {% translate %} and {% blocktranslate %} as one of these calls.
TEMPLATIZED_CALL = re.compile(r"\b(n?p?gettext)\(")
# Words a template may show untranslated: names of products, formats and standards.
NAMES = frozenset({"BotMarket", "DSL", "JSON", "OpenAPI", "ReDoc", "SHA", "Schema", "UTC", "v"})
# Attributes a person reads (or a screen reader speaks).
TEXT_ATTRIBUTES = frozenset({"alt", "aria-label", "label", "placeholder", "title"})
# Blocks whose content is an attribute value (CSS classes), not text.
NON_TEXT_BLOCKS = frozenset({"main_class"})
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[#0 +-]*\d*(?:\.\d+)?[sdifr%]")
MARK = "\x00"  # stands for a template tag or variable in the text left to check


# --- where the texts are ------------------------------------------------------------------------


def _project_apps() -> dict[str, Path]:
    """This project's apps (installed packages excluded), by label."""
    return {
        config.label: Path(config.path).resolve()
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(BASE)
        and ".venv" not in Path(config.path).parts
    }


def _catalogue_path(owner: str, language: str) -> Path:
    locale = (
        Path(settings.LOCALE_PATHS[0]) if owner == PROJECT else _project_apps()[owner] / "locale"
    )
    return locale / language / "LC_MESSAGES" / "django.po"


def _owners() -> list[str]:
    """Every catalogue's owner: the project and each app with a locale folder."""
    apps_with_locale = [
        label for label, path in _project_apps().items() if (path / "locale").is_dir()
    ]
    return [PROJECT, *sorted(apps_with_locale)]


def _owner_of(path: Path) -> str:
    """The owner of the catalogue that must translate the texts of `path`."""
    parts = path.relative_to(BASE).parts
    label = parts[1] if parts[0] == "templates" and len(parts) > 2 else parts[0]
    path_of_app = _project_apps().get(label)
    return label if path_of_app and (path_of_app / "locale").is_dir() else PROJECT


def _templates() -> list[Path]:
    folders = [Path(folder) for engine in settings.TEMPLATES for folder in engine["DIRS"]]
    folders += [path / "templates" for path in _project_apps().values()]
    return sorted(t for folder in folders if folder.is_dir() for t in folder.rglob("*.html"))


def _python_files() -> list[Path]:
    roots = [*_project_apps().values(), BASE / "config"]
    return sorted(
        path for root in roots for path in root.rglob("*.py") if "migrations" not in path.parts
    )


# --- extraction ---------------------------------------------------------------------------------


def _call_strings(code: str, start: int) -> list[str]:
    """The string arguments of the call whose argument list starts at `code[start]`."""
    strings: list[str] = []
    depth = 0
    for token in tokenize.generate_tokens(io.StringIO(code[start:]).readline):
        if token.type == tokenize.STRING and depth == 0:
            strings.append(ast.literal_eval(token.string))
        elif token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            if depth == 0:
                break
            depth -= 1
    return strings


def _message(function: str, strings: list[str]) -> tuple[str | None, str]:
    """(context, msgid) of a gettext call's string arguments."""
    if function.lstrip("n").startswith("p"):
        return strings[0], strings[1]
    return None, strings[0]


def _template_messages(path: Path) -> list[tuple[str | None, str, int]]:
    code = templatize(path.read_text("utf-8"), origin=str(path))
    found = []
    for match in TEMPLATIZED_CALL.finditer(code):
        context, msgid = _message(match[1], _call_strings(code, match.end()))
        found.append((context, msgid, code.count("\n", 0, match.start()) + 1))
    return found


def _python_messages(path: Path) -> list[tuple[str | None, str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        function = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if function not in GETTEXT_CALLS:
            continue
        strings = [
            arg.value
            for arg in node.args
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
        ]
        if strings:  # gettext(variable) translates a msgid marked elsewhere
            context, msgid = _message(function, strings)
            found.append((context, msgid, node.lineno))
    return found


@cache
def used_messages() -> dict[str, dict[tuple[str | None, str], list[str]]]:
    """owner → (context, msgid) → the places ("path:line") that show it."""
    used: dict[str, dict[tuple[str | None, str], list[str]]] = defaultdict(dict)
    sources = [(path, _template_messages) for path in _templates()]
    sources += [(path, _python_messages) for path in _python_files()]
    for path, extract in sources:
        for context, msgid, line in extract(path):
            places = used[_owner_of(path)].setdefault((context, msgid), [])
            places.append(f"{path.relative_to(BASE)}:{line}")
    return dict(used)


class _VisibleText(HTMLParser):
    """Collects the text a person sees: element text outside scripts and styles, and the
    attributes that are read aloud or shown as tooltips."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        self.texts.extend(value for name, value in attrs if name in TEXT_ATTRIBUTES and value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.texts.append(data)


def _unmarked_words(path: Path) -> set[str]:
    """Words of `path` a person would see in English in every language."""
    parts: list[str] = []
    skip_until = None  # the tag that ends a translated block, a comment or a non-text block
    for token in Lexer(path.read_text("utf-8")).tokenize():
        words = token.split_contents() if token.token_type == TokenType.BLOCK else []
        if skip_until:
            if words and words[0] == skip_until:
                skip_until = None
            continue
        if token.token_type == TokenType.TEXT:
            parts.append(token.contents)
            continue
        if words and words[0] in ("blocktranslate", "blocktrans", "comment"):
            skip_until = "end" + words[0]
        elif words[:1] == ["block"] and words[1] in NON_TEXT_BLOCKS:
            skip_until = "endblock"
        if token.token_type in (TokenType.BLOCK, TokenType.VAR):
            parts.append(MARK)
    parser = _VisibleText()
    parser.feed("".join(parts))
    parser.close()
    return {word for text in parser.texts for word in re.findall(r"[^\W\d_]+", text)} - NAMES


@cache
def catalogue(owner: str, language: str) -> polib.POFile:
    path = _catalogue_path(owner, language)
    assert path.is_file(), f"{path.relative_to(BASE)} is missing"
    return polib.pofile(str(path))


# --- the checks ---------------------------------------------------------------------------------


def test_every_text_in_the_templates_is_marked_for_translation():
    unmarked = {
        str(path.relative_to(BASE)): sorted(words)
        for path in _templates()
        if (words := _unmarked_words(path))
    }
    assert unmarked == {}, "wrap these in {% translate %} (or add a proper name to NAMES)"


def test_the_extraction_finds_the_texts_of_every_catalogue():
    used = used_messages()
    assert set(used) == set(_owners())
    assert all(len(messages) >= 10 for messages in used.values()), {
        owner: len(messages) for owner, messages in used.items()
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_text_is_translated_in_its_catalogue(language):
    """Each msgid is translated in its owner's catalogue, or it is one of an installed package's
    own texts that the package's catalogue translates (DRF's "Invalid token.", for instance)."""
    missing = {}
    for owner, messages in used_messages().items():
        entries = {(e.msgctxt, e.msgid): e for e in catalogue(owner, language)}
        for key, places in messages.items():
            entry = entries.get(key)
            if entry is not None and entry.translated() and not entry.obsolete:
                continue
            if entry is None and _served_by_a_package(key, language):
                continue
            missing[key] = f"{_catalogue_path(owner, language).relative_to(BASE)} ← {places[0]}"
    assert missing == {}


def _served_by_a_package(key: tuple[str | None, str], language: str) -> bool:
    """Whether Django translates `key` from a catalogue that is not one of this project's."""
    if any(key in {(e.msgctxt, e.msgid) for e in catalogue(o, language)} for o in _owners()):
        return False  # then the project's catalogue answers, not the package's
    context, msgid = key
    with translation.override(language):
        served = translation.pgettext(context, msgid) if context else translation.gettext(msgid)
    return served != msgid


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogues_hold_only_used_and_finished_translations(language):
    problems = []
    for owner in _owners():
        used = used_messages().get(owner, {})
        where = _catalogue_path(owner, language).relative_to(BASE)
        for entry in catalogue(owner, language):
            key = (entry.msgctxt, entry.msgid)
            if entry.obsolete:
                problems.append(f"{where}: obsolete {entry.msgid!r}")
            elif entry.fuzzy:
                problems.append(f"{where}: fuzzy {entry.msgid!r}")
            elif not entry.translated():
                problems.append(f"{where}: untranslated {entry.msgid!r}")
            elif key not in used:
                problems.append(f"{where}: unused {entry.msgid!r}")
            for source, translated in _pairs(entry):
                if sorted(PLACEHOLDER.findall(source)) != sorted(PLACEHOLDER.findall(translated)):
                    problems.append(f"{where}: placeholders differ in {entry.msgid!r}")
    assert problems == []


def _pairs(entry: polib.POEntry) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs to compare placeholders in; a plural form against its source."""
    if not entry.msgid_plural:
        return [(entry.msgid, entry.msgstr)]
    return [(entry.msgid_plural, text) for text in entry.msgstr_plural.values()]


@pytest.mark.parametrize("language", LANGUAGES)
def test_django_serves_each_entry_of_the_catalogues(language):
    """The compiled catalogues say what the .po files say, and no catalogue overrides another's
    translation of the same msgid (Django merges them: one would win silently)."""
    wrong = {}
    with translation.override(language):
        for owner in _owners():
            for entry in catalogue(owner, language).translated_entries():
                if entry.msgid_plural:
                    # Which form a count takes is the language's rule: each must be one of them.
                    forms = set(entry.msgstr_plural.values())
                    served = {
                        translation.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, n)
                        if entry.msgctxt
                        else translation.ngettext(entry.msgid, entry.msgid_plural, n)
                        for n in (1, 2, 5)
                    }
                    ok = served <= forms
                elif entry.msgctxt:
                    served = translation.pgettext(entry.msgctxt, entry.msgid)
                    ok = served == entry.msgstr
                else:
                    served = translation.gettext(entry.msgid)
                    ok = served == entry.msgstr
                if not ok:
                    wrong[f"{owner}: {entry.msgid}"] = served
    assert wrong == {}, "stale .mo (run `manage.py compile_translations`) or a conflicting entry"
