"""The backtest page's own text in Chinese and English; every code's label comes from the vocabulary.

Tiers, rules and teams are labelled by :mod:`monitor.vocabulary` (the one
place for the label of a code, shared with the desk and the reports); this
module holds only the page's sentences and column heads.
``label(lang, key, **values)`` formats one; unknown keys raise ``KeyError``.
"""

from __future__ import annotations

from monitor import vocabulary
from monitor.vocabulary import LANGS, Lang

__all__ = ["CAPACITY_MODEL", "LANGS", "Lang", "definitions", "label", "reason_name", "rule_name", "team_name",
           "tier_name"]


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
        "days_late": "  平均逾期天数（全部已完成的检查）",
        "owed": "  截止时点仍未完成的到期检查",
        "watch_share": "月末观察及以上占比（前 3 个月之后的平均）",
        "severe_share": "  月末严重预警占比",
        "alerts_by": "每借款人年预警变动次数",
        "flips_by": "  每借款人年反复次数",
        "per_rule": "按规则（预警及以上）",
        "per_rule_note": "每条规则由其触发（升至预警及以上时列于信号之中）的预警，按与策略相同的口径：违约前至少 90 天"
                         "已预警且违约时仍在预警的违约占比、提前天数中位数、精确率（12 个月观察期）。",
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
        "first_visit": "首次贷后检查", "tier_raised": "预警等级上升后的响应检查",
        "workout_ended": "结束特殊资产管理后的检查",
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
        "days_late": "  mean days late (over all visits made)",
        "owed": "  visits due and not made at as-of",
        "watch_share": "watch+ share at month ends (after the first 3 months)",
        "severe_share": "  severe share at month ends",
        "alerts_by": "alerts per borrower-year",
        "flips_by": "  flips per borrower-year",
        "per_rule": "Per rule (warning+)",
        "per_rule_note": "For each rule, the warning-or-above flags it raised (listed among the signals when the "
                         "tier rose), measured as the policy's are: the share of defaults so flagged at least 90 "
                         "days before the default and still flagged at it, the median lead, and the precision "
                         "(12 months of follow-up).",
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
        "first_visit": "first check after disbursement", "tier_raised": "response to a raised tier",
        "workout_ended": "back from workout",
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


# the engine's due reasons (state.due_why) after a visit: the basis of the interval, labelled by the vocabulary
_BASIS = {"inspection": "interval", "cadence": "cadence"}


def reason_name(lang: Lang, reason: str) -> str:
    """Why a visit was due (the engine's ``due_why``)."""
    basis = _BASIS.get(reason)
    if basis is not None:
        return vocabulary.label("visit_basis", basis, lang)
    return _TEXT[lang].get(reason, reason)


# (key, title, text) of each definition, in both languages; {warm_up}, {follow_up}, {baseline}, {capacity}
_DEFINITIONS: dict[str, list[tuple[str, str, str]]] = {
    "en": [
        ("scope", "Scope", "defaults with defaulted_at at or before as_of, of borrowers whose profile the engine "
                           "applied"),
        ("engine", "Engine", "each borrower's events go through the engine in occurred_at order (stable), as in "
                             "monitor replay; tiers, teams and visits are read from the engine's alerts and state, "
                             "never derived again"),
        ("visits", "Visits", "the recorded inspections are not replayed as visits: whenever the engine's next "
                             "visit is due (before the default), the backtest makes it (an inspection_completed "
                             "event through the engine): at that instant, or with a teams file when the team's "
                             "capacity lets it (see capacity), reporting the latest recorded finding at or before "
                             "it (normal when none)"),
        ("flag", "Flag", "a stretch during which the effective tier was at least watch (warning); only what "
                         "happened strictly before defaulted_at counts"),
        ("detection", "Detection", "headline: flagged at least N days before the default AND still flagged at "
                                   "the default (the stretch open just before it began N or more days before); "
                                   "first flag: the first flag ever came N or more days before, whatever followed"),
        ("censoring", "Censoring", "a flag stretch starting in the first {warm_up} days of the history may have "
                                   "begun before it: censored, left out of lead times; for detection its observed "
                                   "length is a lower bound"),
        ("lead_time", "Lead time", "days from the start of the stretch still open at the default to the default, "
                                   "censored ones left out; quartiles by linear interpolation"),
        ("base_rate", "Base rate and lift", "share of all borrowers flagged at the level at some time (before "
                                            "their default); lift = share of defaults flagged before the default "
                                            "/ base rate"),
        ("false_alarms", "Precision and false alarms", "flags raised at or before as_of - {follow_up} days (and "
                                                       "before the borrower's own default); true when the "
                                                       "borrower defaulted within {follow_up} days after an instant "
                                                       "at which it was flagged; precision = true / flagged; "
                                                       "false-positive rate = flagged borrowers that never "
                                                       "defaulted / borrowers seen by then that never defaulted"),
        ("per_rule", "Per rule", "the flags a rule raised: the stretches whose opening alert lists the rule among "
                                 "its signals, measured as the policy's flags"),
        ("workload", "Workload", "visits the policy asked for and the backtest made, per borrower-year of "
                                 "performing time (first seen to default or as_of); baseline: a visit every "
                                 "{baseline} days over the same time; ratio = visits / baseline; visits due before "
                                 "the history are made but not counted"),
        ("capacity", "Capacity", "with a teams file the visits are made as the teams' capacity allows: "
                                 "{capacity}"),
        ("month_ends", "Month ends", "borrowers monitored at each month end (policy time zone) by effective tier, "
                                     "defaulted ones and those handed over to workout apart; shares of the routine "
                                     "book averaged over the month ends after the first 3 months"),
        ("stability", "Stability", "over performing time: alerts (tier changes), raises (normal to any tier) and "
                                   "flips (a rise after an earlier fall of the same borrower) per borrower-year"),
    ],
    "zh": [
        ("scope", "评估范围", "违约时间不晚于评估截止时点、且引擎已收到其贷款档案的借款人的违约"),
        ("engine", "引擎", "每个借款人的事件按发生时间（同一时点保持输入顺序）逐条送入引擎，与 monitor replay 相同；"
                           "预警等级、检查小组和检查均取自引擎的预警与状态，不另行推算"),
        ("visits", "检查", "历史上的检查记录不作为检查重放：每当引擎的下一次检查到期（违约之前），回测即完成该次检查"
                           "（一条经过引擎的检查完成事件）：在到期时点完成，有检查力量文件时按小组能力安排（见“检查"
                           "力量”）；检查结论取该时点及之前最近一次记录的结论（没有记录时为正常）"),
        ("flag", "预警区间", "有效预警等级不低于观察（预警）的连续时段；只计违约时点之前发生的情况"),
        ("detection", "识别率", "主口径：违约前至少 N 天已预警，且违约时仍在预警（违约前一刻所在的预警区间开始于至少 "
                                "N 天前）；首次预警口径：首次预警出现在违约前至少 N 天，不论之后是否解除"),
        ("censoring", "截断", "开始于历史前 {warm_up} 天内的预警区间可能在历史开始前就已存在：视为截断，不计入提前"
                              "天数；计算识别率时以观察到的长度为下限"),
        ("lead_time", "提前天数", "违约时仍在的预警区间从开始到违约的天数，截断的不计；四分位数按线性插值"),
        ("base_rate", "基准率与提升度", "全部借款人中曾（在其违约之前）被预警到该等级的比例；提升度 = 违约者在违约"
                                        "前被预警的比例 / 基准率"),
        ("false_alarms", "精确率与误报率", "只计评估截止时点前 {follow_up} 天及更早发出的预警（且在借款人自身违约之前）；"
                                           "借款人在某个处于预警的时点之后 {follow_up} 天内违约即为有效预警；精确率"
                                           " = 有效预警 / 被预警借款人；误报率 = 被预警但从未违约的借款人 / 截至当时"
                                           "已出现且从未违约的借款人"),
        ("per_rule", "按规则", "某条规则触发的预警：开始时的预警变动在信号中列有该规则的预警区间，口径与策略相同"),
        ("workload", "检查量", "策略要求并由回测完成的检查次数，按正常履约时间（首次出现至违约或评估截止时点）折算为每借款人"
                               "年；基准：同一时间内每 {baseline} 天检查一次；比值 = 检查次数 / 基准；历史开始前已"
                               "到期的检查照常完成但不计入"),
        ("capacity", "检查力量", "有检查力量文件时，检查按各小组的能力完成：{capacity}"),
        ("month_ends", "月末分布", "每个月末（策略时区）在监控的借款人按有效预警等级统计，已违约和已移交特殊资产管理的"
                                   "单列；常规管理部分的占比取前 3 个月之后各月末的平均"),
        ("stability", "稳定性", "按正常履约时间折算为每借款人年的预警变动次数（等级变化）、新增预警次数（由正常升至任一"
                                "等级）和反复次数（同一借款人先下降后再上升）"),
    ],
}
CAPACITY_MODEL = {
    "en": "per team, each working day, the visits due within the coming week and the overdue ones, earliest due "
          "first: as few as meet every deadline within the week's capacity, at most the day's capacity; the engine "
          "sets the next due date from the visit made; late = made after its due date",
    "zh": "每个小组在每个工作日，对未来一周内到期和已逾期的检查按到期先后安排，当天只做为赶上一周内全部期限所必需的"
          "最少次数，且不超过当天的能力；引擎按实际完成的检查确定下一次到期日；逾期完成 = 在到期日之后完成",
}


def definitions(lang: Lang, **values: object) -> list[tuple[str, str, str]]:
    """(key, title, text) of each definition in ``lang``, filled with the settings."""
    filled = {**values, "capacity": CAPACITY_MODEL[lang]}
    return [(key, title, text.format(**filled)) for key, title, text in _DEFINITIONS[lang]]
