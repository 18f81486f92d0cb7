"""Evidence sentences: a signal's rule, values and thresholds as one sentence with units.

Part of :mod:`monitor.vocabulary` (which re-exports :func:`evidence_sentence`); the templates of every
rule are here, the labels and units they use come from the vocabulary.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any

from monitor.vocabulary import Lang, _days, _i, _list, _local_day, _ratio, label, money, number

__all__ = ["SHOWN_FIELDS", "evidence_sentence", "shown_fields", "shown_sentence"]


def _get(signal: Any, key: str) -> Any:
    if type(signal) is dict:
        return signal.get(key)
    return signal.get(key) if isinstance(signal, Mapping) else getattr(signal, key, None)


def _v(values: Mapping[str, Any], key: str) -> Any:
    return values.get(key, "?")


# the sentence of each rule (zh, en), filled by :func:`_params`: a value by its name, a threshold as th_<name>,
# an amount as m_<name> (with its unit), ratio and min_ratio as r_<name>, labels of coded values
_SENTENCES: dict[str, tuple[str, str]] = {
    "overdue.dpd": ("本行逾期 {days_past_due} 天，逾期金额 {m_overdue_amount}，阈值 ≥ {th_band_min} 天",
                    "{days_past_due} days past due at this bank, overdue amount {m_overdue_amount}; "
                    "threshold ≥ {band_days}"),
    "bureau.external_overdue": ("他行逾期 {max_external_dpd} 天，逾期金额 {m_external_overdue_amount}，阈值 ≥ {th_band_min} 天",
                                "{max_external_dpd} days past due at other lenders, overdue amount "
                                "{m_external_overdue_amount}; threshold ≥ {th_band_min} days"),
    "bureau.inquiries": ("近 30 天硬查询 {hard_inquiries_30d} 次，阈值 ≥ {th_min} 次",
                         "{hard_inquiries_30d} hard inquiries in 30 days; threshold ≥ {th_min}"),
    # the bar of the borrower's grade (bureau.inquiries.min_by_grade): the values carry the grade
    "bureau.inquiries@grade": ("近 30 天硬查询 {hard_inquiries_30d} 次，评级 {grade} 的阈值 ≥ {th_min} 次",
                               "{hard_inquiries_30d} hard inquiries in 30 days; threshold for grade {grade} ≥ {th_min}"),
    "bureau.external_overdue_repeated": ("他行逾期连续两期：本期 {max_external_dpd} 天，{gap_days} 天前上期 "
                                         "{previous_max_external_dpd} 天，阈值两期均 ≥ {th_min} 天",
                                         "past due at other lenders on two reports in a row: {max_external_dpd} days, "
                                         "{previous_max_external_dpd} days on the report {gap_days} days before; "
                                         "threshold ≥ {th_min} days on both"),
    "bureau.inquiries_repeated": ("硬查询连续两期偏多：近 30 天 {hard_inquiries_30d} 次，{gap_days} 天前上期 "
                                  "{previous_hard_inquiries_30d} 次，阈值两期均 ≥ {th_min} 次",
                                  "hard inquiries high on two reports in a row: {hard_inquiries_30d} in 30 days, "
                                  "{previous_hard_inquiries_30d} on the report {gap_days} days before; "
                                  "threshold ≥ {th_min} on both"),
    "bureau.debt_growth": ("外部负债 {m_total_external_debt}，为 {gap_days} 天前上期 {m_previous_total_external_debt}的 "
                           "{r_ratio} 倍，阈值 ≥ {r_min_ratio} 倍",
                           "external debt {m_total_external_debt}, {r_ratio} times the {m_previous_total_external_debt}"
                           " of {gap_days} days before; threshold ≥ {r_min_ratio} times"),
    "bureau.guarantees": ("对外担保 {m_guarantee_exposure}，为敞口 {m_exposure}的 {r_ratio} 倍，阈值 ≥ {r_min_ratio} 倍",
                          "guarantees given {m_guarantee_exposure}, {r_ratio} times the exposure of {m_exposure}; "
                          "threshold ≥ {r_min_ratio} times"),
    "rating.downgrade_1": ("评级由 {old_grade} 下调至 {new_grade}（{notches} 级），有效 {th_active_days} 天",
                           "downgraded from {old_grade} to {new_grade} ({notches} notch); holds {th_active_days} days"),
    "rating.downgrade_2": ("评级由 {th_lookback_days} 天内最佳 {best_grade} 下调至 {new_grade}（{notches} 级），"
                           "阈值 ≥ {th_notches} 级",
                           "downgraded to {new_grade} from {best_grade}, the best in {th_lookback_days} days "
                           "({notches} notches); threshold ≥ {th_notches} notches"),
    "rating.weak_grade": ("当前评级 {grade}，属弱等级（{grades}）", "grade {grade} is a weak grade ({grades})"),
    "rating.default_grade": ("当前评级 {grade}，属违约级（{grades}）", "grade {grade} is the default grade ({grades})"),
    "lawsuit.claim_large": ("{case}，标的额 {m_claim_amount}，为敞口 {m_exposure}的 {r_ratio} 倍，阈值 ≥ {r_min_ratio} 倍",
                            "{case}: claim {m_claim_amount}, {r_ratio} times the exposure of {m_exposure}; "
                            "threshold ≥ {r_min_ratio} times"),
    "lawsuit.enforcement": ("{case}，处于{stage}阶段", "{case} at stage {stage}"),
    "lawsuit.criminal": ("{case}，为刑事案件，阶段：{stage}", "{case} is a criminal case, stage {stage}"),
    "inspection.concern": ("现场检查结论为{outcome}（{team}），有效 {th_active_days} 天",
                           "inspection outcome {outcome} ({team}); holds {th_active_days} days"),
    "combo.multi_source": ("{families} {n_families} 类来源同时预警，等级由{raised_from}上调 {th_raise_levels} 级，"
                           "阈值 ≥ {th_min_families} 类来源（{min_level}及以上）",
                           "signals from {families}: tier raised {th_raise_levels} level from {raised_from}; "
                           "threshold ≥ {th_min_families} sources at {min_level} or above"),
    "combo.grade_signal": ("评级 {grade}，另有{rules}，等级由{raised_from}上调为{level}，阈值：评级为{grades}且有{min_level}及以上信号",
                           "grade {grade} with {rules}: tier raised from {raised_from} to {level}; threshold: a grade "
                           "of {grades} and a signal at {min_level} or above"),
    "combo.grade_cap": ("评级 {grade}，{rules}的预警降为{level}，阈值：评级为{grades}",
                        "grade {grade}: the warning of {rules} counts as {level}; threshold: a grade of {grades}"),
    "override.floor": ("{rule_title}为{tier}，至 {until}（{who}）：{reason}", "{rule_title} at {tier} until {until} ({who}): "
                       "{reason}"),
}
for _same, _as in (("lawsuit.claim_material", "lawsuit.claim_large"), ("lawsuit.dishonest_debtor", "lawsuit.enforcement"),
                   ("inspection.deteriorated", "inspection.concern"), ("override.cap", "override.floor")):
    _SENTENCES[_same] = _SENTENCES[_as]
_AMOUNTS = ("overdue_amount", "external_overdue_amount", "total_external_debt", "previous_total_external_debt",
            "guarantee_exposure", "exposure", "claim_amount")


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _params(rule: str, v: Mapping[str, Any], th: Mapping[str, Any], lang: Lang, tz: str | None) -> _Params:
    """What the sentences name, in ``lang``: values, thresholds, amounts with units, labels."""
    en = lang == "en"

    def low(text: str) -> str:
        return text.lower() if en else text

    p = _Params(v)
    p.update({f"th_{k}": x for k, x in th.items()})
    p.update({f"m_{k}": money(v.get(k), lang) for k in _AMOUNTS})
    for key, where in (("ratio", v), ("min_ratio", th)):
        if key in where:
            p[f"r_{key}"] = _ratio(where[key])
    p["band_days"] = _days(_v(th, "band_min"), lang)
    role, ctype = label("lawsuit_role", v.get("role"), lang), label("case_type", v.get("case_type"), lang)
    p["case"] = (f"case {_v(v, 'case_id')} ({low(role)}, {low(ctype)})" if en
                 else f"案件 {_v(v, 'case_id')}（{role}，{ctype}）")
    p["stage"] = low(label("lawsuit_stage", v.get("stage"), lang))
    p["outcome"] = low(label("inspection_outcome", v.get("outcome"), lang))
    p["team"] = label("team", v.get("team"), lang)
    p["grades"] = _list("grade", th.get("grades", []), lang)
    fams = v.get("families", [])
    p["families"] = _list("family", fams, lang)
    p["n_families"] = len(fams) if isinstance(fams, list) else "?"
    p["raised_from"] = low(label("tier", v.get("raised_from"), lang))
    p["min_level"] = low(label("tier", th.get("min_level"), lang))
    p["level"] = low(label("tier", th.get("level"), lang))
    p["rules"] = _list("rule", v.get("rules", []), lang)
    p["tier"] = low(label("tier", v.get("tier"), lang))
    p["rule_title"] = label("rule", rule, lang)
    p["until"] = _local_day(_v(v, "until"), tz, lang)
    by, ok = _v(v, "requested_by"), v.get("approved_by")
    p["who"] = (f"requested by {by}" + (f", approved by {ok}" if ok else "")) if en else \
        (f"申请人 {by}" + (f"，批准人 {ok}" if ok else ""))
    return p


_COMPUTED = frozenset({"band_days", "case", "stage", "outcome", "team", "grades", "families", "n_families",
                       "raised_from", "min_level", "level", "rules", "tier", "rule_title", "until", "who"})
_LABELLED = {"stage": ("lawsuit_stage", 0), "outcome": ("inspection_outcome", 0), "raised_from": ("tier", 0),
             "min_level": ("tier", 1), "level": ("tier", 1), "tier": ("tier", 0)}  # section, and 0: a value, 1: a threshold
_FIELDS: dict[str, tuple[str, ...] | None] = {}


def _fields(template: str) -> tuple[str, ...] | None:
    """The names a template fills (None when it uses anything but plain ``{name}``)."""
    got = _FIELDS.get(template, ())
    if got == ():
        names: list[str] | None = []
        for _, name, spec, conv in string.Formatter().parse(template):
            if name is None:
                continue
            if spec or conv or not name.isidentifier():
                names = None
                break
            names.append(name)  # type: ignore[union-attr]
        got = _FIELDS[template] = None if names is None else tuple(names)
    return got


def _param(name: str, rule: str, v: Mapping[str, Any], th: Mapping[str, Any], lang: Lang, tz: str | None) -> Any:
    """One entry of :func:`_params`, computed alone (the same value)."""
    if name in _COMPUTED:
        en = lang == "en"
        lab = _LABELLED.get(name)
        if lab is not None:
            text = label(lab[0], (th if lab[1] else v).get(name), lang)
            return text.lower() if en else text
        if name == "band_days":
            return _days(_v(th, "band_min"), lang)
        if name == "case":
            role, ctype = label("lawsuit_role", v.get("role"), lang), label("case_type", v.get("case_type"), lang)
            return (f"case {_v(v, 'case_id')} ({role.lower()}, {ctype.lower()})" if en
                    else f"案件 {_v(v, 'case_id')}（{role}，{ctype}）")
        if name == "team":
            return label("team", v.get("team"), lang)
        if name == "grades":
            return _list("grade", th.get("grades", []), lang)
        if name == "families":
            return _list("family", v.get("families", []), lang)
        if name == "rules":
            return _list("rule", v.get("rules", []), lang)
        if name == "n_families":
            fams = v.get("families", [])
            return len(fams) if isinstance(fams, list) else "?"
        if name == "rule_title":
            return label("rule", rule, lang)
        if name == "until":
            return _local_day(_v(v, "until"), tz, lang)
        by, ok = _v(v, "requested_by"), v.get("approved_by")
        return (f"requested by {by}" + (f", approved by {ok}" if ok else "")) if en else \
            (f"申请人 {by}" + (f"，批准人 {ok}" if ok else ""))
    head = name[:2]
    if head == "m_" and name[2:] in _AMOUNTS:
        return money(v.get(name[2:]), lang)
    if head == "r_":
        if name == "r_ratio" and "ratio" in v:
            return _ratio(v["ratio"])
        if name == "r_min_ratio" and "min_ratio" in th:
            return _ratio(th["min_ratio"])
    elif head == "th" and name[2:3] == "_" and name[3:] in th:
        return th[name[3:]]
    return v.get(name, "?")


_Getter = Callable[[str, Any, Any], Any]
_FILLERS: dict[tuple[str, str, str | None], tuple[tuple[str, _Getter], ...] | None] = {}


def _getter(name: str, lang: Lang, tz: str | None) -> _Getter:
    """:func:`_param` of ``name`` as a function of (rule, values, thresholds): the same steps, the choice among
    them made once."""
    if name in _COMPUTED:
        return lambda rule, v, th: _param(name, rule, v, th, lang, tz)
    head, key = name[:2], name[2:]
    if head == "m_" and key in _AMOUNTS:
        return lambda rule, v, th: money(v.get(key), lang)
    if name == "r_ratio":
        return lambda rule, v, th: _ratio(v["ratio"]) if "ratio" in v else v.get(name, "?")
    if name == "r_min_ratio":
        return lambda rule, v, th: _ratio(th["min_ratio"]) if "min_ratio" in th else v.get(name, "?")
    if head == "th" and name[2:3] == "_":
        key = name[3:]
        return lambda rule, v, th: th[key] if key in th else v.get(name, "?")
    return lambda rule, v, th: v.get(name, "?")


def _fill(template: str, rule: str, v: Any, th: Any, lang: Lang, tz: str | None) -> str:
    """The template filled with the names it uses, each as :func:`_params` gives it (only those are computed:
    a value of another shape fails a sentence only where the sentence shows it)."""
    at = (template, lang, tz)
    fillers = _FILLERS.get(at, ())
    if fillers == ():
        names = _fields(template)
        fillers = _FILLERS[at] = None if names is None else tuple((n, _getter(n, lang, tz)) for n in names)
    if fillers is None:
        return template.format_map(_params(rule, v, th, lang, tz))
    return template.format_map({n: get(rule, v, th) for n, get in fillers})


# the two rules most sentences are of (a million borrowers: ~150,000 of ~180,000 distinct), made straight from the
# fields they show: (rule, lang) -> a maker of (value, amount, threshold), the same text as their template filled
# by _fill (tests/test_vocabulary.py holds them to it)
SHOWN_FIELDS: dict[str, tuple[str, str, str]] = {
    "overdue.dpd": ("days_past_due", "overdue_amount", "band_min"),
    "bureau.external_overdue": ("max_external_dpd", "external_overdue_amount", "band_min"),
}
_DIRECT: dict[tuple[str, str], Callable[[Any, Any, Any], str]] = {
    ("overdue.dpd", "zh"): lambda d, m, b: f"本行逾期 {d} 天，逾期金额 {money(m, 'zh')}，阈值 ≥ {b} 天",
    ("overdue.dpd", "en"): lambda d, m, b: (f"{d} days past due at this bank, overdue amount {money(m, 'en')}; "
                                            f"threshold ≥ {_days(b, 'en')}"),
    ("bureau.external_overdue", "zh"): lambda d, m, b: f"他行逾期 {d} 天，逾期金额 {money(m, 'zh')}，阈值 ≥ {b} 天",
    ("bureau.external_overdue", "en"): lambda d, m, b: (f"{d} days past due at other lenders, overdue amount "
                                                        f"{money(m, 'en')}; threshold ≥ {b} days"),
}


def shown_fields(rule: str, values: Any, thresholds: Any) -> tuple[Any, Any, Any] | None:
    """What the sentence of ``rule`` shows of its values and thresholds, when it has a direct maker (the rule's
    values and thresholds plain dicts holding those fields), else None: equal tuples (the same types, as
    marshal tells them apart) make the same sentence."""
    names = SHOWN_FIELDS.get(rule)
    if names is None or type(values) is not dict or type(thresholds) is not dict:
        return None
    a, m, b = names
    if a in values and m in values and b in thresholds:
        return values[a], values[m], thresholds[b]
    return None


def shown_sentence(rule: str, shown: tuple[Any, Any, Any], lang: Lang) -> str | None:
    """:func:`evidence_sentence` of a signal of ``rule`` whose fields :func:`shown_fields` gave as ``shown``, made
    directly; None where its template would fail to fill (evidence_sentence then lists every value)."""
    try:
        return _DIRECT[rule, lang](*shown)
    except Exception:
        return None


def _generic(values: Mapping[str, Any], thresholds: Mapping[str, Any], lang: Lang) -> str:
    sep, eq = ("，", " ") if lang == "zh" else (", ", " ")
    parts = [f"{label('value', k, lang)}{eq}{_plain(values[k], lang)}" for k in sorted(values)]
    limits = [f"{label('value', k, lang)}{eq}{_plain(thresholds[k], lang)}" for k in sorted(thresholds)]
    text = sep.join(parts)
    if limits:
        text += ("；阈值：" if lang == "zh" else "; thresholds: ") + sep.join(limits)
    return text


def _plain(v: Any, lang: Lang) -> str:
    if isinstance(v, bool):
        return ("是" if v else "否") if lang == "zh" else ("yes" if v else "no")
    if isinstance(v, (int, float)):
        return number(v)
    if isinstance(v, list):
        return ("、" if lang == "zh" else ", ").join(_plain(x, lang) for x in v)
    return "—" if v is None else str(v)


def evidence_sentence(signal: Any, lang: Lang = "zh", *, timezone: str | None = None,
                      title: bool = False) -> str:
    """A signal's evidence (rule, values, thresholds) as one sentence with units, e.g.
    ``本行逾期 90 天，逾期金额 4.70 万元，阈值 ≥ 90 天``.

    ``signal`` is an :class:`monitor.outputs.Signal` or its JSON form. ``timezone`` names the zone
    instants are shown in (default Asia/Shanghai); ``title`` puts the rule's title in front.
    A rule the vocabulary does not know, or values of another shape, read as "name value" pairs.
    """
    _i(lang)
    rule = str(_get(signal, "rule") or "")
    values = _get(signal, "values") or {}
    thresholds = _get(signal, "thresholds") or {}
    pair = _SENTENCES.get(rule + "@grade") if "grade" in values else None
    pair = pair or _SENTENCES.get(rule)
    text = None
    if pair is not None:
        try:
            text = _fill(pair[_i(lang)], rule, values, thresholds, lang, timezone)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError):
            text = None
    if text is None:
        text = _generic(values, thresholds, lang)
    if title:
        head = label("rule", rule, lang)
        text = f"{head}：{text}" if lang == "zh" else f"{head}: {text}"
    return text
