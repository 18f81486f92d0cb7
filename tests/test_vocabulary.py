"""The one vocabulary: every code the models allow has a Chinese and an English label."""

from __future__ import annotations

import enum
import inspect
import json
import re
import types
import typing
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from monitor import events, outputs, vocabulary
from monitor.rules.loader import default_policy
from monitor.vocabulary import LANGS, SECTIONS, evidence_sentence, known, label, money, visit_reason

# the section that labels each coded field of the models (a new coded field must be added here)
FIELD_SECTION = {
    "type": "feed", "segment": "segment", "mitigation": "mitigation", "grade": "grade", "old_grade": "grade",
    "new_grade": "grade", "role": "lawsuit_role", "case_type": "case_type", "stage": "lawsuit_stage",
    "outcome": "inspection_outcome", "action": "override_action", "direction": "override_direction",
    "tier": "tier", "from_tier": "tier", "to_tier": "tier", "computed_tier": "tier", "level": "tier",
    "kind": "alert_kind", "min_classification": "classification",
    "reason": "visit_reason", "next_visit_reason": "visit_reason",
}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _codes(annotation: Any) -> list[str]:
    """The codes a field's annotation allows (Literal values and enum members, through unions)."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    if origin in (typing.Union, types.UnionType, typing.Annotated, list):
        return [c for a in typing.get_args(annotation) for c in _codes(a)]
    return []


def _models() -> list[type[BaseModel]]:
    out = []
    for module in (events, outputs):
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == module.__name__:
                out.append(obj)
    return out


def test_every_code_the_models_allow_has_both_labels():
    seen = 0
    for model in _models():
        for name, field in model.model_fields.items():
            codes = _codes(field.annotation)
            if not codes:
                continue
            assert name in FIELD_SECTION, f"{model.__name__}.{name} is a coded field without a vocabulary section"
            section = FIELD_SECTION[name]
            for code in codes:
                seen += 1
                assert known(section, code), f"{model.__name__}.{name}: {code!r} has no label in {section}"
                zh, en = label(section, code, "zh"), label(section, code, "en")
                assert zh and en
                if section != "grade":
                    assert CJK.search(zh), f"{section}.{code}: the Chinese label {zh!r} is not Chinese"
                    assert not CJK.search(en), f"{section}.{code}: the English label {en!r} is Chinese"
    assert seen > 40


def test_every_rule_and_family_of_the_policy_has_both_labels():
    table = default_policy().rule_table()
    assert len(table) >= 15
    for row in table:
        rule = row["rule"]
        assert known("rule", rule), rule
        assert known("family", rule.split(".")[0]), rule
        assert CJK.search(label("rule", rule, "zh")) and not CJK.search(label("rule", rule, "en"))
    for direction in ("floor", "cap"):  # the overrides' signals
        assert known("rule", f"override.{direction}")
    assert known("family", "override")


def test_the_watch_tier_cannot_be_mistaken_for_the_classification():
    tiers = set(vocabulary.labels("tier", "zh").values())
    classes = set(vocabulary.labels("classification", "zh").values())
    assert label("tier", "watch") == "观察"
    assert label("classification", "special_mention") == "关注类"
    assert [c for c in classes if c.endswith("类")] == list(classes)
    for tier in tiers:  # no tier label is, or is contained in, a classification label
        assert not any(tier in c or c.removesuffix("类") == tier for c in classes if tier != "正常"), tier


def test_every_section_has_both_languages_and_no_duplicate_label():
    for name, pairs in SECTIONS.items():
        for code, pair in pairs.items():
            assert len(pair) == 2 and all(pair), (name, code)
        if name not in ("grade", "value", "error", "visit_reason"):
            for i, lang in enumerate(LANGS):
                texts = [p[i] for p in pairs.values()]
                dup = {t for t in texts if texts.count(t) > 1}
                assert not dup, f"{name} ({lang}): {dup} label two codes"


def test_unknown_codes_are_shown_as_they_are():
    assert label("branch", "城东支行") == "城东支行"
    assert not known("branch", "城东支行")
    assert label("industry", None) == "—"
    assert label("team", "shanghai-2") == "上海分行 2 组"
    assert label("team", "shanghai-2", "en") == "Shanghai team 2"
    assert label("team", "T1") == "T1" and not known("team", "T1") and known("team", "wuxi-1")
    with pytest.raises(ValueError, match="language"):
        label("tier", "watch", "fr")  # type: ignore[arg-type]


def test_as_json_is_every_section_in_both_languages_and_deterministic():
    doc = vocabulary.as_json()
    assert set(doc) == {"zh", "en"}
    assert set(doc["zh"]) == set(SECTIONS) == set(doc["en"])
    assert doc["zh"]["tier"]["watch"] == "观察" and doc["en"]["classification"]["loss"] == "Loss"
    raw = vocabulary.as_json_bytes()
    assert raw == vocabulary.as_json_bytes()
    assert json.loads(raw) == doc
    assert set(vocabulary.as_json("en")) == {"en"}


def _sig(rule: str, values: dict[str, Any], thresholds: dict[str, Any]) -> dict[str, Any]:
    return {"rule": rule, "family": rule.split(".")[0], "level": "warning", "since": "2025-03-01T00:00:00Z",
            "values": values, "thresholds": thresholds, "event_ids": ["e1"]}


def test_evidence_sentence_of_the_issue():
    sig = _sig("overdue.dpd", {"days_past_due": 90, "account_id": "A-1", "product": "working_capital",
                               "overdue_amount": 47048.75}, {"band_min": 90})
    assert evidence_sentence(sig, "zh") == "本行逾期 90 天，逾期金额 4.70 万元，阈值 ≥ 90 天"
    assert evidence_sentence(sig, "en") == ("90 days past due at this bank, overdue amount CNY 47,048.75; "
                                            "threshold ≥ 90 days")
    assert evidence_sentence(sig, "zh", title=True).startswith("本行逾期：")
    model = outputs.Signal.model_validate(sig)
    assert evidence_sentence(model, "zh") == evidence_sentence(sig, "zh")


def test_every_rule_reads_as_a_sentence_without_codes(tmp_path):
    """Evidence as the engine writes it, for every rule: no raw code, no value name, units given."""
    from tests.reports.evidence_cases import signals_of_every_rule

    sigs = signals_of_every_rule(tmp_path)
    rules = {s["rule"] for s in sigs}
    missing = {r["rule"] for r in default_policy().rule_table()} | {"override.floor", "override.cap"}
    assert not missing - rules, sorted(missing - rules)
    for sig in sigs:
        zh = evidence_sentence(sig, "zh", timezone="Asia/Shanghai")
        en = evidence_sentence(sig, "en", timezone="Asia/Shanghai")
        assert CJK.search(zh) and "?" not in zh and "?" not in en, (sig["rule"], zh, en)
        for key in sig["values"]:  # no value name like days_past_due or band_min
            assert key not in zh and ("_" not in key or key not in en), (sig["rule"], key, zh, en)
        # a coded value never shows raw in Chinese
        for code in ("defendant", "civil", "commercial", "criminal", "enforcement", "dishonest_debtor", "concern",
                     "deteriorated", "watch", "warning", "severe", "rating", "overdue", "bureau", "lawsuit"):
            assert not re.search(rf"\b{code}\b", zh), (sig["rule"], code, zh)
        for key in ("overdue_amount", "external_overdue_amount", "claim_amount", "guarantee_exposure",
                    "total_external_debt"):
            if key in sig["values"]:
                assert money(sig["values"][key], "zh") in zh and "万元" in zh


def test_unknown_rule_reads_as_labelled_pairs():
    sig = _sig("custom.rule", {"days_past_due": 5, "flag": True}, {"min": 3})
    assert evidence_sentence(sig, "zh") == "逾期天数 5，flag 是；阈值：阈值 3"
    assert evidence_sentence(sig, "en") == "days past due 5, flag yes; thresholds: minimum 3"
    broken = _sig("overdue.dpd", {"days_past_due": "x"}, {})
    assert "本行逾期" in evidence_sentence(broken, "zh")


def test_visit_reasons_are_sentences_with_labelled_parameters():
    zh = visit_reason("inspected", {"date": "2025-03-01", "days": 90, "tier": "watch", "basis": "cadence"})
    assert zh == "2025-03-01 已检查，90 天后再检查（观察，按预警等级检查周期）"
    assert visit_reason("first_visit", {"days": 30}, "en") == "first post-loan check: within 30 days of disbursement"
    assert visit_reason("tier_raised", {"date": "2025-03-01", "days": 14, "tier": "warning"}) == \
        "2025-03-01 预警等级上升为预警：14 天内检查"
    assert visit_reason("first_visit", {}, "zh") == "首次贷后检查"  # a parameter missing: the short form
    assert visit_reason("something_new", {"x": 1}) == "something_new"


_ANY = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**7), st.floats(allow_nan=False), st.text(max_size=6),
                 st.sampled_from(["shanghai-1", "defendant", "civil", "deteriorated", "watch", "A", "2025-03-01T00:00:00Z",
                                  "x"]),
                 st.lists(st.sampled_from(["A", "B", "overdue", "rating", "overdue.dpd", 3]), max_size=3))


def _keys_read() -> list[str]:
    from monitor._evidence import _SENTENCES, _fields

    keys = {"role", "case_type", "case_id", "requested_by", "approved_by", "ratio", "min_ratio", "band_min"}
    for pair in _SENTENCES.values():
        for template in pair:
            for name in _fields(template) or ():
                keys |= {name, name[2:], name[3:]}
    return sorted(k for k in keys if k)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_a_template_filled_by_its_getters_is_the_template_filled_by_each_parameter(data) -> None:
    """The sentence of each rule, filled by a getter per name its template shows (the kind of each name chosen
    once per template) reads as the template filled with each name's parameter (:func:`_param`): for any values
    and thresholds, of any type, missing or not; where one fails to fill, so does the other."""
    from monitor._evidence import _SENTENCES, _fields, _fill, _param

    keys = _keys_read()
    rule = data.draw(st.sampled_from(sorted(_SENTENCES)))
    lang = data.draw(st.sampled_from(["zh", "en"]))
    tz = data.draw(st.sampled_from([None, "Asia/Shanghai", "UTC"]))
    values = data.draw(st.dictionaries(st.sampled_from(keys), _ANY, max_size=8))
    thresholds = data.draw(st.dictionaries(st.sampled_from(keys), _ANY, max_size=5))
    name = rule.split("@")[0]

    def outcome(fill: Any) -> str:
        try:
            return fill()
        except (TypeError, ValueError, AttributeError, KeyError, IndexError):
            return "(fails: the sentence is made of labelled pairs)"

    for template in _SENTENCES[rule]:
        assert outcome(lambda: _fill(template, name, values, thresholds, lang, tz)) == \
            outcome(lambda: template.format_map({n: _param(n, name, values, thresholds, lang, tz)
                                                 for n in _fields(template) or ()}))


_SHOWN_VALUE = st.one_of(_ANY, st.integers(), st.floats(), st.sampled_from([0, 0.0, -0.0, -1, True, 1, 1.0, 10**12,
                                                                             1e15, -5e3, "<b>&\"'", "逾期", "{x}"]))


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_the_direct_sentences_of_the_two_commonest_rules_are_evidence_sentence(data) -> None:
    """overdue.dpd's and bureau.external_overdue's sentences made straight from the fields they show
    (:func:`shown_sentence`, the report's warning list) read as :func:`evidence_sentence` makes them, in both
    languages, for values of any type (zero, negatives, large amounts, NaN, text needing escaping), extra values
    (an account id) or not; where the template fails to fill, the direct maker says so (None) and the report
    makes that sentence by evidence_sentence; fields missing: no direct sentence."""
    from monitor._evidence import _SENTENCES, SHOWN_FIELDS, _fill, shown_fields, shown_sentence

    rule = data.draw(st.sampled_from(sorted(SHOWN_FIELDS)))
    lang = data.draw(st.sampled_from(["zh", "en"]))
    a, m, b = SHOWN_FIELDS[rule]
    fields = data.draw(st.dictionaries(st.sampled_from([a, m]), _SHOWN_VALUE, max_size=2))
    extra = data.draw(st.dictionaries(st.sampled_from(["account_id", "band", "grade", "days_past_due",
                                                       "max_external_dpd", "th_band_min"]), _ANY, max_size=3))
    values = {**extra, **fields}
    thresholds = data.draw(st.dictionaries(st.sampled_from([b, "min", "band_max"]), _SHOWN_VALUE, max_size=3))
    signal = {"rule": rule, "values": values, "thresholds": thresholds}
    shown = shown_fields(rule, values, thresholds)
    if a not in values or m not in values or b not in thresholds:
        assert shown is None
        return
    assert shown == (values[a], values[m], thresholds[b])
    direct = shown_sentence(rule, shown, lang)
    general = evidence_sentence(signal, lang, timezone="Asia/Shanghai")
    if direct is None:  # the template failed: evidence_sentence lists the values
        with pytest.raises((TypeError, ValueError, AttributeError, KeyError, IndexError)):
            _fill(_SENTENCES[rule][0 if lang == "zh" else 1], rule, values, thresholds, lang, "Asia/Shanghai")
    else:
        assert direct == general


def test_shown_fields_only_of_plain_dicts_and_the_two_rules() -> None:
    from monitor._evidence import shown_fields, shown_sentence

    v, th = {"days_past_due": 95, "overdue_amount": 47048.75, "account_id": "A1"}, {"band_min": 90}
    assert shown_fields("overdue.dpd", v, th) == (95, 47048.75, 90)
    assert shown_sentence("overdue.dpd", (95, 47048.75, 90), "zh") == "本行逾期 95 天，逾期金额 4.70 万元，阈值 ≥ 90 天"
    assert shown_sentence("overdue.dpd", (95, 47048.75, 1), "en") == \
        "95 days past due at this bank, overdue amount CNY 47,048.75; threshold ≥ 1 day"
    assert shown_sentence("overdue.dpd", (95, "x", 90), "zh") is None
    assert shown_fields("bureau.inquiries", v, th) is None
    assert shown_fields("overdue.dpd", None, th) is None
    assert shown_fields("overdue.dpd", v, {}) is None
