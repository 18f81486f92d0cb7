"""The backtest page's own text in Chinese and English; every code's label comes from the vocabulary.

Tiers, rules and teams are labelled by :mod:`monitor.vocabulary` (the one
place for the label of a code, shared with the desk and the reports); this
module holds only the page's sentences and column heads.
``label(lang, key, **values)`` formats one; unknown keys raise ``KeyError``.
"""

from __future__ import annotations

from monitor import vocabulary
from monitor.vocabulary import LANGS, Lang

__all__ = ["LANGS", "Lang", "label", "reason_name", "rule_name", "team_name", "tier_name"]


_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "预警策略回测",
        "headline": "截至 {as_of}：借款人 {borrowers} 户，事件 {events} 条（拒收 {rejected} 条），历史 {days} 天；"
                    "纳入评估的违约 {in_scope} 户（as-of 之后 {after} 户，事件中无此借款人 {unknown} 户）",
        "policies": "策略", "policy": "策略", "version": "版本", "file": "文件", "figure": "指标",
        "comparison": "策略对比",
        "det_head": "{level}及以上：违约前至少 {h} 天预警且违约时仍在预警",
        "det_first": "  首次预警在违约前至少 {h} 天（次要口径）",
        "base_rate": "{level}及以上：全部借款人中曾被预警的比例（基准率）",
        "lift": "  提升度（违约者被预警比例 / 基准率）",
        "lead": "{level}及以上：提前天数 中位数 [p25-p75]",
        "censored": "  其中起点被截断（历史开始时已在预警）的违约",
        "fa_flagged": "{level}及以上：有 12 个月观察期的预警借款人",
        "precision": "  精确率（12 个月内违约）",
        "fpr": "  误报率（从未违约者中被预警的比例）",
        "vpby": "每借款人年检查次数",
        "baseline": "  每 90 天一次的基准",
        "ratio": "  与基准之比",
        "visits_year": "每年检查次数",
        "late_share": "  检查力量无法按期完成的比例",
        "watch_share": "月末观察及以上占比（前 3 个月之后的平均）",
        "severe_share": "  月末严重预警占比",
        "alerts_by": "每借款人年预警变动次数",
        "flips_by": "  每借款人年反复次数",
        "per_rule": "按规则（预警及以上）",
        "per_rule_note": "每条规则：在违约前至少 90 天由该规则触发预警的违约占比、提前天数中位数、精确率（该规则"
                         "的预警按触发时点计，次要口径）。",
        "rule": "规则", "d90": "≥90天", "lead_col": "提前", "precision_col": "精确率",
        "chart_detection": "提前天数与识别率",
        "chart_detection_note": "违约前至少 x 天预警且违约时仍在预警的违约占比。实线：预警及以上；虚线：观察及以上。",
        "x_days": "违约前至少天数", "y_detected": "识别的违约占比",
        "chart_tradeoff": "检查量与识别率",
        "chart_tradeoff_note": "每个策略一个点：实心为预警及以上，空心为观察及以上。越高识别越多，越左检查越少；"
                               "虚线为每 90 天检查一次。",
        "x_visits": "每借款人年检查次数", "y_d90": "违约前至少 90 天预警且仍在预警",
        "every90": "每 90 天：{v}", "filled": "实心：预警及以上", "hollow": "空心：观察及以上",
        "visits_where": "检查去向",
        "tier": "等级", "visits": "检查次数", "team": "检查小组", "reason": "原因",
        "per_year": "每年", "borrower_years": "借款人年", "capacity_year": "每年能力", "late": "逾期完成",
        "month_ends": "月末分布", "at": "月末", "monitored": "在监控", "defaulted": "已违约", "workout": "移交特殊资产管理",
        "definitions": "口径说明", "not_measurable": "无法计算",
        "first_visit": "首次贷后检查", "inspection": "按周期检查", "tier_raised": "升级后响应",
        "teams_file": "检查力量文件：{file}（版本 {version}）",
        "footer": "由 monitor backtest 生成；同样的输入生成同样的字节。",
    },
    "en": {
        "title": "Policy backtest",
        "headline": "as of {as_of}: {borrowers} borrowers, {events} events ({rejected} rejected), {days} days of "
                    "history; {in_scope} defaults in scope ({after} after as-of, {unknown} of borrowers not in "
                    "the events)",
        "policies": "Policies", "policy": "policy", "version": "version", "file": "file", "figure": "figure",
        "comparison": "Comparison",
        "det_head": "{level}+ at least {h} days before the default and still flagged at it",
        "det_first": "  first flag ever at least {h} days before (secondary)",
        "base_rate": "{level}+ base rate: share of all borrowers ever flagged",
        "lift": "  lift (share of defaults flagged / base rate)",
        "lead": "lead time {level}+, days: median [p25-p75]",
        "censored": "  defaults whose flag began before the history (censored)",
        "fa_flagged": "{level}+ flags with 12 months of follow-up",
        "precision": "  precision (default within 12 months)",
        "fpr": "  false-positive rate (share of non-defaulters flagged)",
        "vpby": "visits per borrower-year",
        "baseline": "  flat baseline: every 90 days",
        "ratio": "  ratio to the baseline",
        "visits_year": "visits per year",
        "late_share": "  share the teams' capacity cannot make by the due date",
        "watch_share": "watch+ share at month ends (after the first 3 months)",
        "severe_share": "  severe share at month ends",
        "alerts_by": "alerts per borrower-year",
        "flips_by": "  flips per borrower-year",
        "per_rule": "Per rule (warning+)",
        "per_rule_note": "For each rule, flags at warning or above: the share of defaults flagged by the rule at "
                         "least 90 days before, the median lead, and the rule's precision (a rule's flags are "
                         "counted at the alerts that list it: a secondary measure).",
        "rule": "rule", "d90": ">=90d", "lead_col": "lead", "precision_col": "precision",
        "chart_detection": "Detection against lead time",
        "chart_detection_note": "Share of the defaults flagged at least x days before the default and still "
                                "flagged at it. Solid: warning or above; dashed: watch or above.",
        "x_days": "days before the default (at least)", "y_detected": "share of defaults detected",
        "chart_tradeoff": "Visits against detection",
        "chart_tradeoff_note": "One point per policy: filled, warning or above; hollow, watch or above. Up is "
                               "better detection, left is fewer visits; the dashed line is a visit every 90 days.",
        "x_visits": "visits per borrower-year", "y_d90": "flagged 90+ days before and still at the default",
        "every90": "every 90 days: {v}", "filled": "filled: warning+", "hollow": "hollow: watch+",
        "visits_where": "Where the visits go",
        "tier": "tier", "visits": "visits", "team": "team", "reason": "reason",
        "per_year": "per year", "borrower_years": "borrower-years", "capacity_year": "capacity per year",
        "late": "late",
        "month_ends": "Month ends", "at": "month end", "monitored": "monitored", "defaulted": "defaulted", "workout": "handed over to workout",
        "definitions": "Definitions", "not_measurable": "not measurable",
        "first_visit": "first check after disbursement", "inspection": "cadence after a visit",
        "tier_raised": "response to a raised tier",
        "teams_file": "teams file: {file} (version {version})",
        "footer": "Built by monitor backtest; the same input gives the same bytes.",
    },
}


def label(lang: Lang, key: str, **values: object) -> str:
    text = _TEXT[lang][key]
    return text.format(**values) if values else text


def tier_name(lang: Lang, tier: str) -> str:
    return vocabulary.label("tier", tier, lang)


def rule_name(lang: Lang, rule: str) -> str:
    return vocabulary.label("rule", rule, lang)


def team_name(lang: Lang, team: str) -> str:
    return vocabulary.team_label(team, lang)


def reason_name(lang: Lang, reason: str) -> str:
    return _TEXT[lang].get(reason, reason)
