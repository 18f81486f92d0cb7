"""Every message the desk answers with has a code and a label in both languages (issue 16: no English server
text inside the Chinese page)."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from monitor.desk.errors import CATALOG, body, describe, patterns, validation_items
from monitor.events import FREE_TEXT_PATTERN
from monitor.vocabulary import SECTIONS, label

DESK = Path(__file__).resolve().parents[2] / "monitor" / "desk"
CALLS = {"HTTPException", "Refused", "refuse", "_plain", "CursorError"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _render(node: ast.AST, fill: str) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
            elif isinstance(part, ast.FormattedValue):
                text = "a x" if isinstance(part.value, ast.Call) and fill == "a" else fill
                out.append(repr(text) if part.conversion == ord("r") else text)
        return "".join(out)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _render(node.left, fill), _render(node.right, fill)
        return None if left is None or right is None else left + right
    return None


def _messages() -> list[tuple[str, int, list[str]]]:
    """(file, line, renderings) of every literal message the desk raises or returns as a case action's note."""
    found = []
    for path in sorted(DESK.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            args: list[ast.AST] = []
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
                if name in CALLS:
                    args = [a for a in node.args if isinstance(a, ast.Constant | ast.JoinedStr | ast.BinOp)]
            elif isinstance(node, ast.Return) and path.name == "cases.py" and node.value is not None:
                args = [node.value] if isinstance(node.value, ast.Constant | ast.JoinedStr) else []
            for arg in args:
                texts = [t for fill in ("a", "1", "risk_officer") if (t := _render(arg, fill)) is not None]
                if texts and not (isinstance(arg, ast.Constant) and not isinstance(arg.value, str)):
                    found.append((path.name, node.lineno, texts))
    return found


def test_every_message_the_desk_raises_has_a_code():
    messages = _messages()
    assert len(messages) > 40
    missing = [(f, line, texts[0]) for f, line, texts in messages if not any(describe(t)[0] for t in texts)]
    assert not missing, missing


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_code_has_a_label_in_both_languages_with_the_patterns_parameters(code):
    assert code in SECTIONS["error"], f"error.{code} has no label in monitor.vocabulary"
    groups = set(re.compile(CATALOG[code]).groupindex)
    for lang in ("zh", "en"):
        text = label("error", code, lang)
        used = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        assert used <= groups, (code, lang, used - groups)
    assert CJK.search(label("error", code, "zh")) and not CJK.search(label("error", code, "en"))


def test_bodies_carry_the_code_and_parameters_and_the_page_gets_the_same_patterns():
    assert body("case 'B1-1' not found") == {"detail": "case 'B1-1' not found", "code": "case_not_found",
                                             "params": {"id": "B1-1"}}
    assert body("the case is acknowledged, not open")["params"] == {"status": "acknowledged"}
    assert body("not applied: the case is released")["params"] == {"note": "the case is released"}
    assert body("something new") == {"detail": "something new"}
    js = dict(patterns())
    assert js["borrower_not_found"] == "^(?:borrower '(?<id>.*)' not found)$" and len(js) == len(CATALOG)


def test_validation_items_name_the_field_and_the_kind():
    errs = [{"loc": ("body", "reason"), "msg": "Field required", "type": "missing"},
            {"loc": ("body", "text"), "msg": "x", "type": "string_too_long", "ctx": {"max_length": 4000}},
            {"loc": ("query", "tier"), "msg": "x", "type": "literal_error", "ctx": {"expected": "'a'"}},
            {"loc": ("body", "reason"), "msg": "x", "type": "string_pattern_mismatch", "input": "a\x1bb",
             "ctx": {"pattern": FREE_TEXT_PATTERN}}]
    items = validation_items(errs)
    assert [(i["code"], i["params"]) for i in items] == [
        ("missing", {"field": "reason"}), ("string_too_long", {"field": "text", "max_length": "4000"}),
        ("literal_error", {"field": "tier"}), ("control", {"field": "reason", "char": "U+001B"})]
    for i in items:
        assert label("validation", i["code"], "zh") != i["code"]
