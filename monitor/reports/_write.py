"""Writing a report's three forms: HTML, JSON and the warning list as CSV (UTF-8 with BOM)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import NamedTuple

from monitor._errors import InputError
from monitor.reports._html import render_html
from monitor.reports._i18n import Lang, Text
from monitor.reports.model import Report

__all__ = ["ReportPaths", "file_names", "render_csv", "render_json", "write_report"]

_CSV_HEAD = {
    "zh": ["序号", "借款人编号", "预警等级", "期初等级", "敞口（元）", "分行", "检查团队", "客户类型", "行业", "评级",
           "五级分类下限", "进入本等级日期", "本等级天数", "触发规则", "关键值", "下次检查日", "检查是否逾期",
           "案件负责人", "报告期", "数据截至", "预警策略版本"],
    "en": ["rank", "borrower_id", "tier", "tier_at_start", "exposure_cny", "branch", "team", "segment", "industry",
           "grade", "min_classification", "tier_since", "days_at_tier", "rules", "key_values", "next_visit_due",
           "visit_overdue", "case_owner", "period", "as_of", "policy_version"],
}
_RISKY = ("=", "+", "-", "@", "\t", "\r")


class ReportPaths(NamedTuple):
    html: Path
    json: Path
    csv: Path


def file_names(report: Report) -> tuple[str, str, str]:
    m = report.meta
    stem = f"{m.period}-{m.last_day}"
    return f"report-{stem}.html", f"report-{stem}.json", f"warning-list-{stem}.csv"


def _safe(text: str) -> str:
    """Text a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(_RISKY) else text


def render_json(report: Report) -> bytes:
    return report.model_dump_json().encode("utf-8") + b"\n"


def render_csv(report: Report, lang: Lang = "zh") -> bytes:
    """Every borrower of the warning list; opens in a spreadsheet (UTF-8 with BOM, CRLF)."""
    t = Text(lang)
    m = report.meta
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(_CSV_HEAD[lang])
    sep = "；" if lang == "zh" else "; "
    for r in report.warning_list.rows:
        key_values = sep.join(f"{t.rule(e['rule'])}{'：' if lang == 'zh' else ': '}{t.evidence(e, m.timezone)}"
                              for e in r["rules"])
        start = t("new") if r["tier_at_start"] == "new" else t.tier(r["tier_at_start"])
        w.writerow([
            r["rank"], _safe(r["borrower_id"]), t.tier(r["tier"]), start, f"{r['exposure']:.2f}", _safe(t.code("branch", r["branch"])),
            _safe(t.code("team", r["team"])), t.segment(r["segment"]), _safe(t.code("industry", r["industry"])), r["grade"],
            t.classification(r["min_classification"]), r["tier_since"], r["days_at_tier"],
            "; ".join(e["rule"] for e in r["rules"]), _safe(key_values), r["next_visit_due"] or "",
            t("yes") if r["visit_overdue"] else t("no"), _safe(r["case_owner"] or ""), m.label, m.as_of,
            m.policy_version,
        ])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_report(report: Report, out_dir: str | Path, lang: Lang = "zh", *, html_rows: int = 1000) -> ReportPaths:
    """Write ``report-<period>-<date>.html`` and ``.json`` and ``warning-list-<period>-<date>.csv``.

    ``html_rows`` limits the rows of the warning list in the HTML (0 = all); the JSON and the CSV
    hold every row. Each file is written whole or not at all (temporary file, then rename).
    """
    out = Path(out_dir)
    html_name, json_name, csv_name = file_names(report)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = ReportPaths(out / html_name, out / json_name, out / csv_name)
        _write(paths.csv, render_csv(report, lang))
        _write(paths.json, render_json(report))
        _write(paths.html, render_html(report, lang, rows_shown=html_rows, csv_name=csv_name).encode("utf-8"))
    except OSError as exc:
        raise InputError(f"{out}: cannot write the report: {exc.strerror or exc}") from None
    return paths
