"""The one vocabulary of the product: the Chinese and English label of every code it shows.

The reports and the desk take every label from here, so a code reads the same
everywhere (the watch tier is 观察 in both, never 关注, which is the
classification 关注类). Each section maps a code to ``(zh, en)``::

    from monitor.vocabulary import label, evidence_sentence, money

    label("tier", "watch", "zh")            # '观察'
    label("classification", "special_mention", "zh")   # '关注类'
    evidence_sentence(signal, "zh")         # '本行逾期 90 天，逾期金额 4.70 万元，阈值 ≥ 90 天'
    money(47048.75, "zh")                   # '4.70 万元'

A code a section does not know (a bank's own branch name, say) is shown as it
is: :func:`label` falls back to the code, :func:`known` tells the two apart.
:func:`as_json` is the whole vocabulary for a page (the desk serves it).
Visit reasons are codes with parameters (:func:`visit_reason`); evidence
sentences are rendered from a signal's rule, values and thresholds, with units.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

__all__ = [
    "LANGS", "Lang", "SECTIONS", "as_json", "as_json_bytes", "evidence_sentence", "known", "label", "labels", "money", "number",
    "team_label", "visit_reason",
]

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
Pairs = dict[str, tuple[str, str]]

TIER: Pairs = {
    "normal": ("正常", "Normal"), "watch": ("观察", "Watch"), "warning": ("预警", "Warning"),
    "severe": ("严重预警", "Severe"),
}
CLASSIFICATION: Pairs = {
    "normal": ("正常类", "Normal"), "special_mention": ("关注类", "Special mention"),
    "substandard": ("次级类", "Substandard"), "doubtful": ("可疑类", "Doubtful"), "loss": ("损失类", "Loss"),
}
SEGMENT: Pairs = {
    "micro": ("微型企业", "Micro enterprise"), "small": ("小型企业", "Small enterprise"),
    "medium": ("中型企业", "Medium enterprise"), "retail": ("个人客户", "Retail"),
}
INDUSTRY: Pairs = {
    "manufacturing": ("制造业", "Manufacturing"), "wholesale_retail": ("批发和零售业", "Wholesale and retail"),
    "construction": ("建筑业", "Construction"), "real_estate": ("房地产业", "Real estate"),
    "transport_logistics": ("交通运输、仓储和物流业", "Transport and logistics"),
    "agriculture": ("农林牧渔业", "Agriculture"), "information_technology": ("信息技术服务业", "Information technology"),
    "hospitality": ("住宿和餐饮业", "Hospitality"), "mining": ("采矿业", "Mining"),
    "healthcare": ("卫生和社会工作", "Healthcare"), "education": ("教育", "Education"),
    "energy": ("电力、热力、燃气及水生产和供应业", "Energy and utilities"), "household": ("个人及家庭", "Households"),
    "trade": ("贸易", "Trade"), "retail": ("零售业", "Retail trade"), "services": ("服务业", "Services"),
    "finance": ("金融业", "Finance"), "other": ("其他行业", "Other"),
}
BRANCH: Pairs = {
    "shanghai": ("上海分行", "Shanghai"), "hangzhou": ("杭州分行", "Hangzhou"), "nanjing": ("南京分行", "Nanjing"),
    "suzhou": ("苏州分行", "Suzhou"), "ningbo": ("宁波分行", "Ningbo"), "hefei": ("合肥分行", "Hefei"),
    "wuxi": ("无锡分行", "Wuxi"), "shenzhen": ("深圳分行", "Shenzhen"), "beijing": ("北京分行", "Beijing"),
}
PRODUCT: Pairs = {
    "working_capital": ("流动资金贷款", "Working capital loan"),
    "business_credit_line": ("经营性授信额度", "Business credit line"), "term_loan": ("固定资产贷款", "Term loan"),
    "trade_finance": ("贸易融资", "Trade finance"), "project_finance": ("项目融资", "Project finance"),
    "consumer": ("个人消费贷款", "Consumer loan"), "mortgage": ("个人住房贷款", "Mortgage"),
    "auto": ("个人汽车贷款", "Auto loan"), "credit_card": ("信用卡", "Credit card"),
}
MITIGATION: Pairs = {"secured": ("抵质押", "Secured"), "guaranteed": ("保证", "Guaranteed"),
                     "unsecured": ("信用", "Unsecured")}
GRADE: Pairs = {g: (g, g) for g in ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D")}
FAMILY: Pairs = {
    "rating": ("评级", "Rating"), "lawsuit": ("涉诉", "Lawsuit"), "bureau": ("征信", "Credit bureau"),
    "overdue": ("本行逾期", "Overdue"), "inspection": ("现场检查", "Inspection"), "combo": ("多源叠加", "Combination"),
    "override": ("人工干预", "Override"),
}
RULE: Pairs = {
    "rating.downgrade_1": ("评级下调", "Downgrade by one notch"),
    "rating.downgrade_2": ("评级累计下调两级及以上", "Downgrade by two or more notches"),
    "rating.weak_grade": ("评级处于弱等级", "Weak grade"),
    "rating.default_grade": ("评级为违约级", "Default grade"),
    "lawsuit.claim_large": ("涉诉标的较大", "Large lawsuit claim"),
    "lawsuit.claim_material": ("涉诉标的重大", "Material lawsuit claim"),
    "lawsuit.enforcement": ("被强制执行", "Enforcement"),
    "lawsuit.dishonest_debtor": ("失信被执行人", "Dishonest judgment debtor"),
    "lawsuit.criminal": ("涉及刑事案件", "Criminal case"),
    "bureau.external_overdue": ("他行逾期", "Overdue at other lenders"),
    "bureau.inquiries": ("多头借贷（硬查询）", "Multi-lending (hard inquiries)"),
    "bureau.external_overdue_repeated": ("他行逾期连续两期", "Overdue at other lenders on two reports"),
    "bureau.inquiries_repeated": ("多头借贷连续两期", "Multi-lending on two reports"),
    "bureau.debt_growth": ("外部负债激增", "External debt surge"),
    "bureau.guarantees": ("对外担保过高", "High guarantees given"),
    "overdue.dpd": ("本行逾期", "Days past due at this bank"),
    "inspection.concern": ("现场检查需关注", "Inspection: concern"),
    "inspection.deteriorated": ("现场检查发现经营恶化", "Inspection: deteriorated"),
    "combo.multi_source": ("多源信号叠加", "Signals from several sources"),
    "combo.grade_signal": ("弱等级叠加信号", "Weak grade with another signal"),
    "combo.grade_cap": ("优良等级预警降级", "Strong grade: warning counts as watch"),
    "override.floor": ("人工设定等级下限", "Officer's tier floor"),
    "override.cap": ("人工设定等级上限", "Officer's tier cap"),
}
ALERT_KIND: Pairs = {"raised": ("新增预警", "Raised"), "escalated": ("升级", "Escalated"),
                     "de_escalated": ("降级", "De-escalated"), "cleared": ("解除", "Cleared")}
LAWSUIT_STAGE: Pairs = {
    "filed": ("已立案", "Filed"), "judgment": ("已判决", "Judgment"), "enforcement": ("强制执行", "Enforcement"),
    "dishonest_debtor": ("失信被执行人", "Dishonest judgment debtor"), "closed": ("已结案", "Closed"),
}
LAWSUIT_ROLE: Pairs = {"defendant": ("被告", "Defendant"), "plaintiff": ("原告", "Plaintiff"),
                       "third_party": ("第三人", "Third party")}
CASE_TYPE: Pairs = {"civil": ("民事", "Civil"), "commercial": ("商事", "Commercial"), "labor": ("劳动争议", "Labour"),
                    "administrative": ("行政", "Administrative"), "criminal": ("刑事", "Criminal")}
INSPECTION_OUTCOME: Pairs = {"normal": ("正常", "Normal"), "concern": ("需关注", "Concern"),
                             "deteriorated": ("经营恶化", "Deteriorated")}
FEED: Pairs = {
    "loan_profile": ("贷款档案", "Loan profiles"), "rating_change": ("评级变动", "Rating changes"),
    "lawsuit": ("涉诉信息", "Lawsuit notices"), "bureau_report": ("征信报告", "Credit-bureau reports"),
    "overdue": ("本行逾期", "Overdue events"), "inspection_completed": ("现场检查记录", "Inspections"),
    "tier_override": ("人工干预", "Tier overrides"),
}
OVERRIDE_DIRECTION: Pairs = {"floor": ("等级下限", "Floor"), "cap": ("等级上限", "Cap")}
OVERRIDE_ACTION: Pairs = {"set": ("设置", "Set"), "clear": ("取消", "Clear")}
CASE_STATUS: Pairs = {
    "open": ("待确认", "Open"), "acknowledged": ("处置中", "Being handled"),
    "release_requested": ("待批准解除", "Release requested"), "released": ("已解除", "Released"),
}
USER_ROLE: Pairs = {"risk_officer": ("风险经理", "Risk officer"), "supervisor": ("主管", "Supervisor"),
                    "inspector": ("检查员", "Inspector"), "ops": ("运维", "Operations"), "admin": ("管理员", "Administrator")}
TIMEZONE: Pairs = {"Asia/Shanghai": ("北京时间", "China Standard Time"), "Asia/Hong_Kong": ("香港时间", "Hong Kong Time"),
                   "UTC": ("协调世界时", "UTC")}
PERIOD: Pairs = {"day": ("日报", "Daily"), "week": ("周报", "Weekly"), "month": ("月报", "Monthly")}
# visit reasons: templates with parameters (:func:`visit_reason` fills them, labelling coded ones)
# (the engine's codes and parameters: monitor.outputs.ScheduleReason; date, days, tier, basis, after_days)
VISIT_REASON: Pairs = {
    "no_profile": ("尚未收到贷款档案", "no loan profile yet"),
    "first_visit": ("首次贷后检查：放款后 {days} 天内", "first post-loan check: within {days} days of disbursement"),
    "inspected": ("{date} 已检查，{days} 天后再检查（{tier}，{basis}）",
                  "inspected on {date}: next visit in {days} days ({tier}, {basis})"),
    "tier_raised": ("{date} 预警等级上升为{tier}：{days} 天内检查",
                    "tier raised to {tier} on {date}: visit within {days} days"),
    "workout": ("{date} 移交特殊资产管理（资产保全），不列入例行检查",
                "handed over to special-asset management (workout) on {date}: off the routine schedule"),
    "workout_ended": ("{date} 结束特殊资产管理，回到例行检查：{days} 天内检查（{tier}）",
                      "back from workout on {date}: visit within {days} days ({tier})"),
}
# what set the interval after a visit
VISIT_BASIS: Pairs = {"interval": ("按贷款常规周期", "the loan's normal interval"),
                      "cadence": ("按预警等级检查周期", "the tier's cadence")}
DATA_QUALITY: Pairs = {
    "bureau_missing": ("无征信报告", "No credit-bureau report"),
    "bureau_stale": ("征信报告过期", "Credit-bureau report out of date"),
    "profile_stale": ("贷款档案过期", "Loan profile out of date"),
    "name_missing": ("缺少借款人名称", "No borrower name"),
}
FEED_STATUS: Pairs = {"ok": ("正常", "On time"), "late": ("延迟", "Late"), "no_data": ("无数据", "No data"),
                      "event_driven": ("按事件到达", "Event-driven")}
RATIO: Pairs = {"npl": ("不良贷款率", "NPL ratio"), "overdue": ("逾期率", "Overdue ratio"),
                "special_mention": ("关注类占比", "Special-mention share"), "watch_list": ("预警名单占比", "Watch-list share")}
DEFAULT_TRIGGER: Pairs = {"dpd": ("逾期超过90天", "Over 90 days past due"), "grade": ("评级降为D", "Grade D"),
                          "both": ("逾期超过90天且评级D", "Over 90 days past due and grade D")}
# the desk's server error codes (the desk adds its own; the page shows the label, not the English detail)
ERROR: Pairs = {
    "bad_request": ("请求有误", "Bad request"), "unauthorized": ("未登录或令牌无效", "Not signed in or token not valid"),
    "forbidden": ("没有权限", "Not allowed"), "not_found": ("未找到", "Not found"),
    "conflict": ("与当前状态冲突", "Conflicts with the current state"),
    "too_large": ("请求内容过大", "Request too large"), "invalid": ("输入不符合要求", "Invalid input"),
    "unavailable": ("服务暂不可用", "Service unavailable"),
}
# names of evidence values and thresholds (tables that show them one by one)
VALUE: Pairs = {
    "old_grade": ("原评级", "from grade"), "new_grade": ("新评级", "to grade"), "best_grade": ("回看期内最佳评级", "best grade"),
    "notches": ("下调级数", "notches"), "grade": ("评级", "grade"), "grades": ("评级范围", "grades"),
    "case_id": ("案号", "case"), "stage": ("阶段", "stage"), "stages": ("阶段范围", "stages"),
    "case_type": ("案件类型", "case type"), "case_types": ("案件类型范围", "case types"), "role": ("诉讼地位", "role"),
    "claim_amount": ("标的额", "claim"), "exposure": ("敞口", "exposure"), "ratio": ("倍数", "ratio"),
    "min_ratio": ("最低倍数", "minimum ratio"), "active_days": ("有效天数", "active days"),
    "max_external_dpd": ("他行最长逾期天数", "external DPD"), "external_overdue_amount": ("他行逾期金额", "external overdue"),
    "hard_inquiries_30d": ("近30天硬查询次数", "hard inquiries (30 days)"), "min": ("阈值", "minimum"),
    "total_external_debt": ("外部负债", "external debt"), "previous_total_external_debt": ("上期外部负债", "previous external debt"),
    "gap_days": ("间隔天数", "days between reports"), "max_gap_days": ("最长间隔天数", "maximum gap"),
    "guarantee_exposure": ("对外担保", "guarantees given"), "days_past_due": ("逾期天数", "days past due"),
    "account_id": ("账户", "account"), "product": ("产品", "product"), "overdue_amount": ("逾期金额", "overdue amount"),
    "band_min": ("档位下限", "band minimum"), "outcome": ("检查结论", "outcome"), "outcomes": ("结论范围", "outcomes"),
    "team": ("检查团队", "team"), "families": ("信号来源", "sources"), "raised_from": ("叠加前等级", "raised from"),
    "min_families": ("最少来源数", "minimum sources"), "min_level": ("最低等级", "minimum level"),
    "raise_levels": ("上调级数", "levels raised"), "max_level": ("最高上调至", "raised to at most"),
    "lookback_days": ("回看天数", "lookback days"),
    "tier": ("等级", "tier"), "until": ("有效至", "until"), "requested_until": ("申请有效至", "requested until"),
    "reason": ("原因", "reason"), "requested_by": ("申请人", "requested by"), "approved_by": ("批准人", "approved by"),
}

# ------------------------------------------------------------------ the desk's codes (monitor.desk)
# what an audit record records, the planner's visit status, a case note's kind
AUDIT_ACTION: Pairs = {
    "acknowledge": ("确认接手", "Acknowledged"), "assign": ("指派", "Assigned"), "note": ("备注", "Note"),
    "request_release": ("申请解除", "Release requested"), "approve_release": ("批准解除", "Release approved"),
    "reject_release": ("驳回解除", "Release rejected"), "override": ("人工干预", "Override"),
    "request_override": ("申请等级上限", "Cap requested"), "approve_override": ("批准等级上限", "Cap approved"),
    "reject_override": ("驳回等级上限", "Cap rejected"), "record_visit": ("记录走访", "Visit recorded"),
    "refused": ("被拒绝的请求", "Refused request"),
}
PLAN_STATUS: Pairs = {
    "on_time": ("按期", "On time"), "late": ("无法按期", "Late"), "no_capacity": ("产能不足", "No capacity"),
    "no_team": ("无检查团队", "No team"), "beyond_horizon": ("超出计划期", "Beyond the horizon"),
}
NOTE_KIND: Pairs = {"note": ("备注", "Note"), "action_plan": ("行动计划", "Action plan")}
# the fields of the desk's requests (named in error messages)
FIELD: Pairs = {
    "reason": ("原因", "reason"), "text": ("内容", "text"), "kind": ("类别", "kind"), "assignee": ("指派给", "assignee"),
    "outcome": ("检查结论", "outcome"), "inspector": ("检查人", "inspector"), "notes": ("走访记录", "notes"),
    "visited_at": ("走访时间", "visited at"), "action": ("操作", "action"), "direction": ("方向", "direction"),
    "tier": ("等级", "tier"), "until": ("有效至", "until"), "case_ids": ("案件列表", "cases"), "q": ("搜索", "search"),
    "team": ("检查团队", "team"), "branch": ("分行", "branch"), "status": ("案件状态", "status"),
    "since": ("起始时间", "since"), "cursor": ("翻页位置", "cursor"), "limit": ("每页条数", "page size"),
    "offset": ("起始行", "offset"), "sort": ("排序", "sort"), "order": ("顺序", "order"), "start": ("开始日期", "start"),
    "end": ("截止日期", "end"), "key": ("订阅密钥", "feed key"), "horizon": ("计划天数", "horizon"),
    "placement": ("排程方式", "placement"), "days": ("天数", "days"), "user": ("用户", "user"),
    "lang": ("语言", "language"), "borrower_id": ("借款人", "borrower"), "case_id": ("案件编号", "case"),
    "record_id": ("记录", "record"), "body": ("请求内容", "request body"), "x-request-id": ("请求编号", "request id"),
}
# a request field's problem (the type of a validation error; {field} is labelled, the rest as given)
VALIDATION: Pairs = {
    "missing": ("{field}：必填", "{field}: required"),
    "string_too_short": ("{field}：不能为空", "{field}: must not be empty"),
    "string_too_long": ("{field}：不能超过 {max_length} 个字符", "{field}: at most {max_length} characters"),
    "control": ("{field}：含有不允许的控制字符、转义字符或双向控制字符（{char}）",
                "{field}: control, escape or bidi character {char} not allowed"),
    "out_of_range": ("{field}：超出支持的年份 1900-2199", "{field}: outside the years 1900-2199"),
    "literal_error": ("{field}：不是允许的取值", "{field}: not one of the allowed values"),
    "extra_forbidden": ("{field}：不接受这个字段", "{field}: not a field of this request"),
    "timezone_aware": ("{field}：需要带时区的时间", "{field}: a time with its UTC offset is needed"),
    "datetime": ("{field}：不是有效的时间", "{field}: not a valid date and time"),
    "date": ("{field}：不是有效的日期", "{field}: not a valid date"),
    "number": ("{field}：不是有效的数字或超出范围", "{field}: not a valid number, or out of range"),
    "other": ("{field}：输入不符合要求", "{field}: invalid"),
}
ERROR.update({
    "forbidden_role": ("您的角色（{role}）无权进行此操作", "Your role ({role}) may not do this"),
    "inspector_teams": ("检查员只能查看本团队的检查计划", "An inspector sees only their own teams' schedules"),
    "borrower_not_found": ("未找到借款人 {id}", "Borrower {id} not found"),
    "case_not_found": ("未找到案件 {id}", "Case {id} not found"),
    "team_not_found": ("未找到检查团队 {id}", "Team {id} not found"),
    "request_not_found": ("未找到等级上限申请 {id}", "Cap request {id} not found"),
    "report_not_found": ("未找到报告 {id}", "Report {id} not found"),
    "report_form_missing": ("报告 {id} 没有 {form} 文件", "Report {id} has no {form} file"),
    "reports_not_kept": ("本服务不保存报告", "This service keeps no reports"),
    "feed_not_found": ("没有这个日历订阅（订阅密钥无效、已撤销，或不能查看该团队）",
                       "No such feed (unknown or revoked key, or a team the key does not open)"),
    "not_applied": ("未生效：{note}", "Not applied: {note}"),
    "four_eyes_release": ("双人复核：批准人不能是申请解除的人", "Four eyes: the approver cannot be who requested the release"),
    "four_eyes_override": ("双人复核：批准人不能是申请等级上限的人",
                           "Four eyes: the approver cannot be who requested the cap"),
    "case_not_open": ("案件当前为“{status}”，不是待确认", "The case is {status}, not open"),
    "case_released": ("案件已解除", "The case is released"),
    "release_needs_ack": ("案件当前为“{status}”：只有处置中的案件才能申请解除",
                          "The case is {status}: only a case being handled can be put up for release"),
    "no_release_to_approve": ("案件当前为“{status}”：没有待批准的解除申请", "The case is {status}: no release to approve"),
    "no_release_to_reject": ("案件当前为“{status}”：没有可驳回的解除申请", "The case is {status}: no release to reject"),
    "role_cannot_approve_release": ("{role}不能批准解除", "A {role} cannot approve a release"),
    "role_cannot_reject_release": ("{role}不能驳回他人的解除申请", "A {role} cannot reject another's release request"),
    "role_cannot_decide_override": ("{role}不能审批等级上限申请", "A {role} cannot decide on a cap request"),
    "cap_needs_approval": ("等级上限需要另一位主管批准", "A cap needs a second officer's approval"),
    "no_pending_request": ("没有待审批的等级上限申请 {id}", "No pending cap request {id}"),
    "case_missing": ("尚未读到案件 {id}", "Case {id} not read yet"),
    "alert_id_required": ("缺少案件编号", "The case is required"),
    "not_case_action": ("{action} 不是案件操作", "{action} is not a case action"),
    "details_invalid": ("记录内容不完整：{field}", "The record's details are invalid: {field}"),
    "request_decided": ("该申请已处理（{status}）", "The request is {status}"),
    "override_expired": ("申请的等级上限已过期", "The requested cap has already expired"),
    "computed_tier_unknown": ("尚不知道借款人的规则计算等级，无法设置上限",
                              "The borrower's computed tier is not known yet: nothing to cap"),
    "cap_not_below": ("等级上限必须低于规则计算等级（{tier}）", "A cap must be below the computed tier ({tier})"),
    "floor_tier": ("等级下限只能是观察、预警或严重预警", "A floor must be watch, warning or severe"),
    "override_clear_fields": ("取消时不填写等级和有效期", "No tier or end date when clearing"),
    "override_set_fields": ("设置时必须填写等级和有效期", "A tier and an end date are needed to set"),
    "until_past": ("有效期必须在将来", "The end must be in the future"),
    "until_too_far": ("{direction}的有效期最多 {days} 天", "A {direction} lasts at most {days} days"),
    "no_team_yet": ("借款人尚无检查团队", "The borrower has no inspection team yet"),
    "visit_future": ("走访时间不能在将来", "The visit cannot be in the future"),
    "visit_too_old": ("走访时间最多补记 {days} 天前", "A visit can be recorded at most {days} days later"),
    "start_after_end": ("开始日期不能晚于截止日期", "The start cannot be after the end"),
    "end_too_far": ("截止日期最多为今天起 {days} 天", "The end is at most {days} days after today"),
    "request_id_format": ("请求编号格式不正确", "The request id is not in the expected form"),
    "request_id_reused": ("请求编号已用于另一项操作", "The request id was used for another change"),
    "kafka_unavailable": ("消息服务暂时没有接收操作，请稍后重试（同一请求编号不会重复执行）",
                          "The change was not taken: send it again (the same request id is never applied twice)"),
    "body_not_json": ("请求内容不是有效的 JSON", "The request body is not JSON"),
    "body_too_large": ("请求内容超过 {bytes} 字节", "The request body is larger than {bytes} bytes"),
    "content_length": ("请求长度无效", "Content-Length is not a number"),
    "path_control": ("地址中含有不允许的控制字符（{char}）", "The address holds the control character {char}"),
    "unknown_query": ("不认识的查询参数：{names}", "Unknown query parameters: {names}"),
    "query_repeated": ("查询参数 {field} 重复", "The query parameter {field} is given twice"),
    "cursor_invalid": ("翻页位置无效，请重新查询", "Not a page position this service gave out"),
    "bulk_too_many": ("一次最多处理 {n} 个案件", "At most {n} cases at once"),
    "export_too_large": ("符合条件的有 {n} 行，导出最多 {max} 行，请缩小筛选范围",
                         "{n} rows match; an export holds at most {max}: narrow the filters"),
    "assignee_required": ("指派时必须填写负责人", "An assignee is needed to assign"),
    "assignee_only_assign": ("只有指派时才填写负责人", "An assignee goes only with assign"),
})

SECTIONS: dict[str, Pairs] = {
    "tier": TIER, "classification": CLASSIFICATION, "segment": SEGMENT, "industry": INDUSTRY, "branch": BRANCH,
    "product": PRODUCT, "mitigation": MITIGATION, "grade": GRADE, "family": FAMILY, "rule": RULE,
    "alert_kind": ALERT_KIND, "lawsuit_stage": LAWSUIT_STAGE, "lawsuit_role": LAWSUIT_ROLE, "case_type": CASE_TYPE,
    "inspection_outcome": INSPECTION_OUTCOME, "feed": FEED, "override_direction": OVERRIDE_DIRECTION,
    "override_action": OVERRIDE_ACTION, "case_status": CASE_STATUS, "user_role": USER_ROLE, "period": PERIOD,
    "timezone": TIMEZONE, "data_quality": DATA_QUALITY, "feed_status": FEED_STATUS, "ratio": RATIO,
    "default_trigger": DEFAULT_TRIGGER,
    "visit_reason": VISIT_REASON, "visit_basis": VISIT_BASIS, "error": ERROR, "value": VALUE,
    "audit_action": AUDIT_ACTION, "plan_status": PLAN_STATUS, "note_kind": NOTE_KIND, "field": FIELD,
    "validation": VALIDATION,
}
_LANG_INDEX = {"zh": 0, "en": 1}
_TEAM = re.compile(r"^(.+)-(\d{1,3})$")


def _i(lang: str) -> int:
    try:
        return _LANG_INDEX[lang]
    except KeyError:
        raise ValueError(f"language must be one of {', '.join(LANGS)}, not {lang!r}") from None


def known(section: str, code: str) -> bool:
    """Whether the vocabulary has a label for ``code`` in ``section`` (``team``: its branch is known)."""
    if section == "team":
        return team_label(code) != code
    return code in SECTIONS[section]


def label(section: str, code: str | None, lang: Lang = "zh") -> str:
    """The label of ``code`` (the code itself when the section does not know it; ``—`` for none)."""
    if code is None or code == "":
        return "—"
    if section == "team":
        return team_label(code, lang)
    pair = SECTIONS[section].get(code)
    return code if pair is None else pair[_i(lang)]


def labels(section: str, lang: Lang = "zh") -> dict[str, str]:
    """Every code of a section with its label."""
    i = _i(lang)
    return {code: pair[i] for code, pair in SECTIONS[section].items()}


def team_label(code: str, lang: Lang = "zh") -> str:
    """An inspection team: ``shanghai-2`` reads 上海分行 2 组 / Shanghai team 2 when the branch is known."""
    m = _TEAM.match(code)
    if m is None or m.group(1) not in BRANCH:
        return code
    branch = BRANCH[m.group(1)][_i(lang)]
    return f"{branch} {int(m.group(2))} 组" if lang == "zh" else f"{branch} team {int(m.group(2))}"


def as_json(lang: Lang | None = None) -> dict[str, Any]:
    """The vocabulary for a page: ``{lang: {section: {code: label}}}`` (one language when given)."""
    langs = LANGS if lang is None else (lang,)
    return {lg: {name: labels(name, lg) for name in sorted(SECTIONS)} for lg in langs}


def as_json_bytes(lang: Lang | None = None) -> bytes:
    """:func:`as_json` as canonical JSON bytes (sorted keys: the same vocabulary, the same bytes)."""
    return json.dumps(as_json(lang), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


# ------------------------------------------------------------------ numbers and units


def number(value: float | int, decimals: int = 2) -> str:
    """Thousands separators; integers without decimals."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{decimals}f}"


def money(amount: float | int | None, lang: Lang = "zh") -> str:
    """An amount in CNY with its unit: ``4.70 万元`` (the tables' unit), ``CNY 47,048.75``."""
    if amount is None:
        return "—"
    if lang == "zh":
        return f"{amount / 1e4:,.2f} 万元"
    return f"CNY {amount:,.2f}"


def _ratio(x: Any) -> str:
    return f"{float(x):,.2f}".rstrip("0").rstrip(".") if isinstance(x, (int, float)) else str(x)


def _days(n: Any, lang: Lang) -> str:
    return f"{n} 天" if lang == "zh" else (f"{n} day" if n == 1 else f"{n} days")


def _local_day(instant: Any, tz: str | None, lang: Lang) -> str:
    """An ISO instant as the calendar date (and zone) it falls on."""
    text = str(instant)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    zone = tz or "Asia/Shanghai"
    return f"{dt.astimezone(ZoneInfo(zone)).strftime('%Y-%m-%d %H:%M')}（{label('timezone', zone)}）" if lang == "zh" \
        else f"{dt.astimezone(ZoneInfo(zone)).strftime('%Y-%m-%d %H:%M')} ({label('timezone', zone, 'en')})"


def _list(section: str, codes: Any, lang: Lang) -> str:
    items = codes if isinstance(codes, (list, tuple)) else [codes]
    return ("、" if lang == "zh" else ", ").join(label(section, str(c), lang) for c in items)


def visit_reason(code: str, params: Mapping[str, Any] | None = None, lang: Lang = "zh") -> str:
    """The reason of a visit date as a sentence: the template of ``code`` filled with ``params``
    (tier, grade, mitigation and basis are labelled). An unknown code is returned as it is."""
    pair = VISIT_REASON.get(code)
    if pair is None:
        return code
    p = dict(params or {})
    for key, section in (("tier", "tier"), ("grade", "grade"), ("mitigation", "mitigation"), ("basis", "visit_basis")):
        if key in p:
            p[key] = label(section, None if p[key] is None else str(p[key]), lang)
    try:
        return pair[_i(lang)].format(**p)
    except (KeyError, IndexError, ValueError):
        return pair[_i(lang)].split("：")[0].split(":")[0]


# the evidence sentences live in monitor/_evidence.py (they use the labels above)
from monitor._evidence import evidence_sentence  # noqa: E402
