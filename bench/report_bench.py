"""Report benchmark: a monthly report on 1,000,000 borrowers and 5,000,000 alerts.

    python bench/report_bench.py [--borrowers 1000000] [--alerts 5000000] [--seed 5] [--dir DIR]

Running the simulator and the replay at that size would take hours, so the
replay's outputs are generated directly with numpy, in the replay's formats:
``borrowers.jsonl``, ``alerts.jsonl`` (24 months of chained tier changes with
their signals, sorted by instant), ``schedule_history.jsonl`` (first visits,
visits and pulled-forward due dates), ``rejects.jsonl``, ``summary.json``, and
an events file with every borrower's loan profile, the rating changes of the
two years and the report month's events of every feed. The files are cached
(``--dir``, default under the system temp dir) and reused.

Then, in a fresh process, it builds the report for December 2025 and writes
its three files, and prints the wall time of each step and the peak resident
memory (``resource.getrusage``). Goal: under 10 s and under 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from monitor.rules.loader import default_policy  # noqa: E402

POLICY_VERSION = default_policy().version  # the report is built with the shipped policy
S = 1_000_000  # microseconds per second
T0 = 1_704_038_400 * S  # 2024-01-01T00:00:00+08:00
T_END = 1_767_196_800 * S  # 2026-01-01T00:00:00+08:00 = the replay's as-of
MONTH = 1_764_518_400 * S  # 2025-12-01T00:00:00+08:00
DAY = 86_400 * S
TIERS = ("normal", "watch", "warning", "severe")
KINDS = ("raised", "escalated", "de_escalated", "cleared")
RULES = (("overdue.dpd", "overdue", '{"days_past_due":%d,"account_id":"%s-A1","product":"working_capital",'
          '"overdue_amount":%d.5}', '{"band_min":1}'),
         ("bureau.external_overdue", "bureau", '{"max_external_dpd":%d,"external_overdue_amount":%d.25}%s',
          '{"band_min":30}'),
         ("rating.weak_grade", "rating", '{"grade":"CCC"}%.0s%.0s%.0s', '{"grades":["CCC","CC","C"]}'))


def iso(us: np.ndarray) -> list[str]:
    """Instants as the replay writes them: seconds, or microseconds when there are some, and Z."""
    secs = us // S
    frac = us % S
    base = np.datetime_as_string(secs.astype("datetime64[s]"), unit="s").tolist()
    return [b + "Z" if f == 0 else f"{b}.{f:06d}Z" for b, f in zip(base, frac.tolist())]


def days_text(days: np.ndarray) -> list[str]:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D").tolist()


def write_lines(path: Path, lines: list[str], mode: str = "w") -> None:
    with path.open(mode, encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines))
        fh.write("\n")


def generate(d: Path, n: int, total: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    ids = np.array([f"B{i:07d}" for i in range(1, n + 1)])
    branch = rng.integers(0, 50, n)
    team = branch * 3 + rng.integers(0, 3, n)
    exposure = (rng.lognormal(13.5, 1.2, n) // 100 * 100 + 10_000).astype(np.int64)
    print(f"generating {n:,} borrowers, {total:,} alerts in {d} ...", flush=True)

    # alerts: per borrower raise / (escalate) / clear episodes; 15 % end under warning
    k = rng.multinomial(total, np.full(n, 1.0 / n))
    b = np.repeat(np.arange(n), k)  # grouped by borrower
    rand_t = rng.integers(T0 + DAY, T_END - 1, total)
    t_of = rand_t[np.lexsort((rand_t, b))]  # each borrower's alerts in time order
    start = np.r_[0, np.cumsum(k)[:-1]]
    j = np.arange(total) - np.repeat(start, k)
    kk = np.repeat(k, k)
    odd = kk % 2 == 1
    role = np.where(odd, np.where(j == 0, 0, np.where(j == 1, 1, np.where(j == 2, 3, np.where((j - 3) % 2 == 0, 0, 3)))),
                    np.where(j % 2 == 0, 0, 3))
    raise_to = np.where(odd & (j == 0), rng.choice([1, 2], total, p=[0.7, 0.3]),
                        rng.choice([1, 2, 3], total, p=[0.6, 0.25, 0.15]))
    to = np.where(role == 0, raise_to, 0)
    prev_to = np.r_[0, to[:-1]]
    prev_to[start[k > 0]] = 0
    esc = role == 1
    to[esc] = prev_to[esc] + 1 + (rng.random(int(esc.sum())) * (3 - prev_to[esc])).astype(np.int64)
    prev_to = np.r_[0, to[:-1]]
    prev_to[start[k > 0]] = 0
    last = start + k - 1
    keep = rng.random(n) < 0.07
    mod = last[(k > 0) & keep]
    x = prev_to[mod]
    hi = x >= 2
    to[mod[hi]] = 1 + (rng.random(int(hi.sum())) * (x[hi] - 1)).astype(np.int64)
    role[mod[hi]] = 2
    to[mod[~hi]] = 2 + rng.integers(0, 2, int((~hi).sum()))
    role[mod[~hi]] = 1
    frm = prev_to
    kind = np.where(role == 0, 0, np.where(role == 3, 3, np.where(to > frm, 1, 2)))
    seq = j + 1
    glob = np.lexsort((b, t_of))
    lines: list[str] = []
    path = d / "alerts.jsonl"
    path.write_text("")
    block = 500_000
    for s0 in range(0, total, block):
        idx = glob[s0:s0 + block]
        at = iso(t_of[idx])
        for i, a in zip(idx.tolist(), at):
            bid = ids[b[i]]
            tt = int(to[i])
            if tt == 0:
                sig = ""
            else:
                r, fam, vals, th = RULES[i % 3]
                v = vals % (30 * tt, bid, 1000 + i % 977) if r == "overdue.dpd" else \
                    vals % (30 * tt, 500 + i % 313, "") if fam == "bureau" else vals % ("", "", "")
                sig = (f'{{"rule":"{r}","family":"{fam}","level":"{TIERS[tt]}","since":"{a}","values":{v},'
                       f'"thresholds":{th},"event_ids":["e{i}"]}}')
            lines.append(f'{{"alert_id":"{i:032x}","borrower_id":"{bid}","kind":"{KINDS[kind[i]]}",'
                         f'"from_tier":"{TIERS[frm[i]]}","to_tier":"{TIERS[tt]}","computed_tier":"{TIERS[tt]}",'
                         f'"at":"{a}","signals":[{sig}],"policy_version":"{POLICY_VERSION}",'
                         f'"next_visit_due":null,"team":"t{team[b[i]]}","branch":"br{branch[b[i]]}",'
                         f'"sequence":{seq[i]}}}')
        write_lines(path, lines, "a")
        lines.clear()
    end_tier = np.zeros(n, dtype=np.int64)
    has = k > 0
    end_tier[has] = to[last[has]]

    # schedule history: first visit, three visits per borrower, and a pulled due date per raise
    vis = 3
    vt = rng.integers(T0 + 30 * DAY, T_END - 1, n * vis)
    vb = np.repeat(np.arange(n), vis)
    up = np.flatnonzero(role <= 1)
    st = np.concatenate([np.full(n, T0), vt, t_of[up]])
    sb = np.concatenate([np.arange(n), vb, b[up]])
    why = np.concatenate([np.zeros(n, np.int8), np.ones(n * vis, np.int8), np.full(up.size, 2, np.int8)])
    sdue = np.concatenate([np.full(n, (T0 + 30 * DAY) // DAY), (vt + 90 * DAY) // DAY, (t_of[up] + 14 * DAY) // DAY])
    so = np.lexsort((sb, st))
    reasons = ('"first_visit","reason_params":{{"disbursed":"{d}","days":30}}',
               '"inspected","reason_params":{{"visited":"{d}","days":90,"basis":"interval"}}',
               '"tier_raised","reason_params":{{"raised":"{d}","days":14,"tier":"watch"}}')
    path = d / "schedule_history.jsonl"
    path.write_text("")
    for s0 in range(0, so.size, block):
        idx = so[s0:s0 + block]
        at = iso(st[idx])
        dues = days_text(sdue[idx])
        for i, a, du in zip(idx.tolist(), at, dues):
            bb = sb[i]
            reason = reasons[why[i]].format(d=a[:10])
            lines.append(f'{{"at":"{a}","borrower_id":"{ids[bb]}","next_visit_due":"{du}","team":"t{team[bb]}",'
                         f'"branch":"br{branch[bb]}","tier":"normal","reason":{reason},"workout":false,'
                         f'"policy_version":"{POLICY_VERSION}"}}')
        write_lines(path, lines, "a")
        lines.clear()

    # borrowers.jsonl at the as-of
    lines = [f'{{"borrower_id":"{ids[i]}","tier":"{TIERS[end_tier[i]]}","computed_tier":"{TIERS[end_tier[i]]}",'
             f'"active_rules":[],"min_classification":"normal","next_visit_due":null,"team":"t{team[i]}",'
             f'"branch":"br{branch[i]}","exposure":{exposure[i]}.0}}' for i in range(n)]
    write_lines(d / "borrowers.jsonl", lines)

    # events: profiles, two years of rating changes, and December's feeds
    segs, inds, grades = ("micro", "small", "medium", "retail"), ("trade", "manufacturing", "construction",
                                                                "retail", "transport", "agriculture"), \
        ("AAA", "AA", "A", "BBB", "BB", "B", "CCC")
    ev: list[str] = []
    for i in range(n):
        ev.append(f'{{"event_id":"p{i}","type":"loan_profile","borrower_id":"{ids[i]}",'
                  f'"occurred_at":"2023-12-31T08:00:00+08:00","source":"core-banking","segment":"{segs[i % 4]}",'
                  f'"industry":"{inds[i % 6]}","branch":"br{branch[i]}","team":"t{team[i]}",'
                  f'"exposure":{exposure[i]}.00,"product":"working_capital","mitigation":"unsecured",'
                  f'"grade":"{grades[i % 7]}","disbursed_at":"2023-12-01T10:00:00+08:00","name":"某某公司{i}"}}')

    def times(count: int, lo: int, hi: int) -> list[str]:
        us = rng.integers(lo, hi, count)
        return [x.replace("Z", "+00:00") for x in iso(us - us % S)]

    rb = rng.integers(0, n, 200_000)
    for i, (bb, a) in enumerate(zip(rb.tolist(), times(rb.size, T0, T_END))):
        ev.append(f'{{"event_id":"r{i}","type":"rating_change","borrower_id":"{ids[bb]}","occurred_at":"{a}",'
                  f'"old_grade":"BB","new_grade":"B"}}')
    month = [("inspection_completed", 130_000, '"team":"t{t}","inspector":"insp-{i}","outcome":"normal"'),
             ("overdue", 150_000, '"account_id":"{b}-A1","product":"working_capital","days_past_due":{i7},'
                                  '"overdue_amount":1200.5'),
             ("bureau_report", 400_000, '"max_external_dpd":0,"external_overdue_amount":0,"hard_inquiries_30d":1,'
                                        '"total_external_debt":1000,"guarantee_exposure":0'),
             ("lawsuit", 5_000, '"case_id":"(2025)沪01民初{i}号","role":"defendant","case_type":"civil",'
                                '"stage":"filed","claim_amount":1000')]
    for typ, count, body in month:
        mb = rng.integers(0, n, count)
        for i, (bb, a) in enumerate(zip(mb.tolist(), times(count, MONTH, T_END))):
            fields = body.format(t=team[bb], i=i, b=ids[bb], i7=i % 7)
            ev.append(f'{{"event_id":"{typ[0]}{i}","type":"{typ}","borrower_id":"{ids[bb]}","occurred_at":"{a}",'
                      f'{fields}}}')
    bad = sorted(rng.choice(len(ev), 100, replace=False).tolist(), reverse=True)
    for pos in bad:
        ev.insert(pos, '{"event_id": "broken", "type": "overdue"')
    write_lines(d / "events.jsonl", ev)
    rejects = [json.dumps({"line": i + 1, "reason": "not JSON", "source": str(d / "events.jsonl"),
                           "text": line}, sort_keys=True, ensure_ascii=False)
               for i, line in enumerate(ev) if line.startswith('{"event_id": "broken"')]
    write_lines(d / "rejects.jsonl", rejects)
    summary = {"as_of": "2025-12-31T16:00:00Z",
               "events": {"read": len(ev), "applied": len(ev) - len(rejects), "duplicate": 0,
                          "rejected": len(rejects), "after_as_of": 0},
               "borrowers": {"total": n}, "alerts": {"total": total}}
    (d / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (d / "DONE").write_text("ok")


CHILD = r"""
import json, os, resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from monitor.reports import build_report, write_report
d = sys.argv[1]
t1 = time.perf_counter()
report = build_report(d, [d + "/events.jsonl"], period="month", as_of="2025-12-31")
t2 = time.perf_counter()
paths = write_report(report, d + "/report", "zh")
t3 = time.perf_counter()
with open("/proc/self/status") as fh:  # peak RSS of this program (ru_maxrss survives exec)
    hwm = next((int(x.split()[1]) * 1024 for x in fh if x.startswith("VmHWM:")), 0)
rss = hwm or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"import": t1 - t0, "build": t2 - t1, "write": t3 - t2, "total": t3 - t0, "rss": rss,
                  "cpu": time.process_time() - c0, "rows": report.warning_list.borrowers,
                  "alerts_in_period": report.changes.alerts,
                  "sizes": {p.name: p.stat().st_size for p in paths}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--borrowers", type=int, default=1_000_000)
    ap.add_argument("--alerts", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    d = args.dir or Path(tempfile.gettempdir()) / f"report-bench-v2-{args.borrowers}-{args.alerts}-{args.seed}"
    if not (d / "DONE").exists():
        started = time.perf_counter()
        generate(d, args.borrowers, args.alerts, args.seed)
        print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
    sizes = {p.name: p.stat().st_size for p in sorted(d.iterdir()) if p.suffix in (".jsonl", ".json")}
    lines = {name: sum(1 for _ in (d / name).open("rb")) for name in sizes}
    print("inputs:")
    for name, size in sizes.items():
        print(f"  {name:<24} {lines[name]:>12,} lines {size / 2**20:>10,.0f} MiB")
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-c", CHILD, str(d)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        sys.exit(1)
    r = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"monthly report 2025-12: {r['alerts_in_period']:,} alerts in the month, {r['rows']:,} borrowers listed")
    print(f"  import        {r['import']:>7.2f} s")
    print(f"  build_report  {r['build']:>7.2f} s")
    print(f"  write (3)     {r['write']:>7.2f} s   " + ", ".join(f"{k} {v / 2**20:,.1f} MiB"
                                                        for k, v in r["sizes"].items()))
    print(f"  total         {r['total']:>7.2f} s   (goal < 10 s); CPU time of all threads {r['cpu']:.2f} s")
    print(f"  peak RSS      {r['rss'] / 2**30:>7.2f} GiB (goal < 2 GiB)")
    print(f"  load average  {load:.2f} before, {os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs "
          "(wall times stretch on a shared machine; the CPU time does less)")


if __name__ == "__main__":
    main()
