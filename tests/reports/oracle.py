"""An independent count of the report's figures: plain Python loops over the parsed files.

Nothing here comes from ``monitor.reports``: it re-reads the replay outputs and the
events with ``json`` and ``datetime`` and follows the definitions written in the
report, one borrower at a time. Slow, obvious, and therefore a good referee.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

TIERS = ["normal", "watch", "warning", "severe"]
RANK = {t: i for i, t in enumerate(TIERS)}
CLASSES = [(361, "loss"), (271, "doubtful"), (91, "substandard"), (1, "special_mention")]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Period:
    kind: str
    first: date
    last: date
    start: datetime
    end: datetime  # exclusive
    cut_end: datetime  # exclusive end of what is known: min(end, replay as-of + epsilon)
    complete: bool


class Oracle:
    def __init__(self, replay_dir: Path, events_path: Path, zone: str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(zone)
        self.alerts = jsonl(replay_dir / "alerts.jsonl")
        self.sched = jsonl(replay_dir / "schedule_history.jsonl")
        self.borrowers = jsonl(replay_dir / "borrowers.jsonl")
        self.summary = json.loads((replay_dir / "summary.json").read_text())
        self.replay_as_of = instant(self.summary["as_of"])
        rejected = {r["line"] for r in jsonl(replay_dir / "rejects.jsonl")}
        self.events: list[tuple[int, dict[str, Any]]] = []
        for number, line in enumerate(events_path.read_bytes().split(b"\n"), start=1):
            if number in rejected or not line.strip():
                continue
            self.events.append((number, json.loads(line)))

    # ------------------------------------------------------------ periods

    def period(self, kind: str, as_of: date) -> Period:
        if kind == "day":
            first = as_of
        elif kind == "week":
            first = as_of - timedelta(days=as_of.weekday())
        else:
            first = as_of.replace(day=1)
        start = datetime.combine(first, time(0), tzinfo=self.tz)
        end = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=self.tz)
        known = self.replay_as_of + timedelta(microseconds=1)
        return Period(kind, first, as_of, start, end, min(end, known), end <= known)

    # ------------------------------------------------------------ state at an instant (exclusive end)

    def _events(self, kind: str, before: datetime) -> list[tuple[datetime, int, dict[str, Any]]]:
        out = [(instant(e["occurred_at"]), n, e) for n, e in self.events if e["type"] == kind]
        return sorted((x for x in out if x[0] < before), key=lambda x: (x[0], x[1]))

    def profiles(self, before: datetime) -> dict[str, dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for _, _, e in self._events("loan_profile", before):
            latest[e["borrower_id"]] = e
        return latest

    def grades(self, before: datetime) -> dict[str, str]:
        first: dict[str, str] = {}
        for _, _, e in self._events("loan_profile", before):
            first.setdefault(e["borrower_id"], e["grade"])
        for _, _, e in self._events("rating_change", before):
            first[e["borrower_id"]] = e["new_grade"]
        return first

    def classification(self, before: datetime) -> dict[str, str]:
        accounts: dict[tuple[str, str], tuple[datetime, int]] = {}
        for at, _, e in self._events("overdue", before):
            accounts[(e["borrower_id"], e["account_id"])] = (at, e["days_past_due"])
        now = before - timedelta(microseconds=1)
        top: dict[str, int] = defaultdict(int)
        for (bid, _), (at, dpd) in accounts.items():
            if dpd > 0:
                top[bid] = max(top[bid], dpd + (now - at) // timedelta(days=1))
        out = {}
        for bid in self.profiles(before):
            out[bid] = next((name for floor, name in CLASSES if top[bid] >= floor), "normal")
        return out

    def last_alerts(self, before: datetime) -> dict[str, dict[str, Any]]:
        last: dict[str, dict[str, Any]] = {}
        for a in self.alerts:
            if instant(a["at"]) < before:
                last[a["borrower_id"]] = a
        return last

    def tiers(self, before: datetime) -> dict[str, str]:
        last = self.last_alerts(before)
        return {bid: last[bid]["to_tier"] if bid in last else "normal" for bid in self.profiles(before)}

    def due(self, before: datetime) -> dict[str, str | None]:
        due: dict[str, str | None] = {}
        for s in self.sched:
            if instant(s["at"]) < before:
                due[s["borrower_id"]] = s["next_visit_due"]
        return due

    # ------------------------------------------------------------ sections

    def portfolio(self, p: Period) -> dict[str, Any]:
        prof, tiers = self.profiles(p.cut_end), self.tiers(p.cut_end)
        by_tier: Counter[str] = Counter()
        exposure: Counter[str] = Counter()
        for bid, e in prof.items():
            by_tier[tiers[bid]] += 1
            exposure[tiers[bid]] += round(e["exposure"] * 100)
        return {"borrowers": len(prof), "by_tier": dict(by_tier), "exposure": {k: v / 100 for k, v in exposure.items()},
                "classes": Counter(self.classification(p.cut_end).values()),
                "grades": Counter(self.grades(p.cut_end)[b] for b in prof)}

    def migration(self, p: Period) -> dict[tuple[str, str], int]:
        start, end = self.tiers(p.start), self.tiers(p.cut_end)
        return dict(Counter((start.get(b, "new"), t) for b, t in end.items()))

    def kinds(self, p: Period) -> Counter[str]:
        return Counter(a["kind"] for a in self.alerts if p.start <= instant(a["at"]) < p.cut_end)

    def trend(self, p: Period) -> list[dict[str, int]]:
        out = []
        day = p.first
        while day <= p.last:
            edge = min(datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz), p.cut_end)
            c = Counter(self.tiers(edge).values())
            out.append({t: c.get(t, 0) for t in TIERS})
            day += timedelta(days=1)
        return out

    def warning_list(self, p: Period) -> list[dict[str, Any]]:
        prof, tiers, last = self.profiles(p.cut_end), self.tiers(p.cut_end), self.last_alerts(p.cut_end)
        due = self.due(p.cut_end)
        ref = p.cut_end.astimezone(self.tz).date()
        rows = []
        for bid, tier in tiers.items():
            if tier == "normal":
                continue
            since = instant(last[bid]["at"]).astimezone(self.tz).date()
            d = due.get(bid)
            rows.append({"borrower_id": bid, "tier": tier, "exposure": float(prof[bid]["exposure"]),
                         "branch": prof[bid]["branch"], "team": prof[bid]["team"], "tier_since": since.isoformat(),
                         "days_at_tier": (p.last - since).days, "next_visit_due": d,
                         "visit_overdue": d is not None and date.fromisoformat(d) < ref,
                         "rules": [s["rule"] for s in last[bid]["signals"]]})
        rows.sort(key=lambda r: (-RANK[r["tier"]], -r["exposure"], r["borrower_id"]))
        return rows

    def rules(self, p: Period) -> dict[str, dict[str, Any]]:
        ends = self.profiles(p.cut_end)
        out: dict[str, dict[str, Any]] = defaultdict(lambda: {"alerts": 0, "borrowers": set(), "new": set()})
        for a in self.alerts:
            if not p.start <= instant(a["at"]) < p.cut_end:
                continue
            for s in a["signals"]:
                row = out[s["rule"]]
                row["alerts"] += 1
                row["borrowers"].add(a["borrower_id"])
                if p.start <= instant(s["since"]) < p.cut_end:
                    row["new"].add(a["borrower_id"])
        return {k: {"alerts": v["alerts"], "borrowers": len(v["borrowers"]), "newly_held": len(v["new"]),
                    "exposure": sum(ends[b]["exposure"] for b in v["borrowers"])} for k, v in out.items()}

    def inspections(self, p: Period) -> dict[str, dict[str, int]]:
        """Per team: due, done, done_on_time, overdue (at the end), planned (next period)."""
        teams: dict[str, Counter[str]] = defaultdict(Counter)
        by_b: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in self.sched:
            by_b[s["borrower_id"]].append(s)
        nf = p.last + timedelta(days=1)
        if p.kind == "day":
            nl = nf
        elif p.kind == "week":
            nl = nf + timedelta(days=6 - nf.weekday())
        else:
            nl = (nf.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        ref = p.cut_end.astimezone(self.tz).date()
        prof = self.profiles(p.cut_end)
        for bid, entries in by_b.items():
            known = [s for s in entries if instant(s["at"]) < p.cut_end]
            before = [s for s in known if instant(s["at"]) < p.start]
            inside = [s for s in known if instant(s["at"]) >= p.start]
            chain = ([before[-1]] if before else []) + inside
            segs: list[dict[str, Any]] = []
            for s in chain:
                visit = s["reason"].startswith("inspected")
                if not segs or s["next_visit_due"] != segs[-1]["due"] or visit:
                    segs.append({"due": s["next_visit_due"], "team": s["team"], "next_visit": None})
                    if len(segs) > 1:
                        segs[-2]["next_visit"] = visit
            for i, seg in enumerate(segs):
                if seg["due"] is None:
                    continue
                d = date.fromisoformat(seg["due"])
                replaced = seg["next_visit"] is False
                if p.first <= d <= p.last and not replaced:
                    teams[seg["team"]]["due"] += 1
                if i == len(segs) - 1 and bid in prof:
                    if d < ref:
                        teams[seg["team"]]["overdue"] += 1
                    if nf <= d <= nl:
                        teams[seg["team"]]["planned"] += 1
        seen: set[tuple[str, str]] = set()
        for at, _, e in sorted(((instant(e["occurred_at"]), n, e) for n, e in self.events
                                if e["type"] == "inspection_completed"), key=lambda x: (x[0], x[1])):
            key = (e["borrower_id"], e["event_id"])
            if key in seen or not p.start <= at < p.cut_end:
                seen.add(key)
                continue
            seen.add(key)
            prior = [s for s in by_b.get(e["borrower_id"], []) if instant(s["at"]) < at]
            team = prior[-1]["team"] if prior and prior[-1]["team"] else e["team"]
            due = prior[-1]["next_visit_due"] if prior else None
            teams[team]["done"] += 1
            if due is None or at.astimezone(self.tz).date() <= date.fromisoformat(due):
                teams[team]["done_on_time"] += 1
        return {k: dict(v) for k, v in teams.items()}

    def feeds(self, p: Period) -> dict[str, tuple[int, int]]:
        """Per feed: distinct events in the period, and copies of one already counted in it."""
        seen: set[tuple[str, str]] = set()
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for at, _, e in sorted(((instant(e["occurred_at"]), n, e) for n, e in self.events),
                               key=lambda x: (x[0], x[1])):
            if not p.start <= at < p.cut_end:
                continue
            key = (e["borrower_id"], e["event_id"])
            counts[e["type"]][0 if key not in seen else 1] += 1
            seen.add(key)
        return {k: (v[0], v[1]) for k, v in counts.items()}
