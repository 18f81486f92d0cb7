"""Private: the generative model behind :mod:`monitor.simulate` (numpy, vectorised).

Times are int64 seconds on the *local* clock (UTC+08:00) since the epoch, so a
day boundary is a multiple of ``DAY`` and the text form is the local wall time
followed by ``+08:00``. Every draw comes from numpy generators seeded from one
``SeedSequence``; each component has its own child stream, so the output is a
pure function of (borrowers, months, seed, start).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from monitor.events import GRADES

DAY = 86_400
HOUR = 3_600
OFFSET = "+08:00"
D = len(GRADES) - 1  # index of grade D
NO_TIME = np.iinfo(np.int64).max // 4

# --- the static world --------------------------------------------------------
SEGMENTS = ("micro", "small", "medium", "retail")
SEG_P = np.array([0.35, 0.30, 0.10, 0.25])
EXPO_MEDIAN = np.array([1.0e6, 3.5e6, 1.6e7, 2.5e5])
EXPO_SIGMA = np.array([0.6, 0.55, 0.6, 0.75])
INDUSTRIES = ("manufacturing", "wholesale_retail", "construction", "real_estate",
              "transport_logistics", "agriculture", "information_technology",
              "hospitality", "mining", "healthcare", "education", "energy", "household")
INDUSTRY_WORD = ("制造", "贸易", "建设", "置业", "物流", "农业", "科技", "餐饮",
                 "矿业", "医疗", "教育", "能源", "")
INDUSTRY_P = np.array([22, 20, 10, 6, 9, 7, 8, 6, 3, 4, 2, 3, 0], float)
BRANCHES = ("shanghai", "hangzhou", "nanjing", "suzhou", "ningbo", "hefei", "wuxi", "shenzhen")
CITY = ("上海", "杭州", "南京", "苏州", "宁波", "合肥", "无锡", "深圳")
PROVINCE = ("沪", "浙", "苏", "苏", "浙", "皖", "苏", "粤")
DISTRICT = ("浦东新区", "西湖区", "鼓楼区", "工业园区", "鄞州区", "蜀山区", "滨湖区", "南山区")
COURT_CODE = ("0115", "0106", "0106", "0591", "0212", "0104", "0211", "0305")
TEAMS_PER_BRANCH = np.array([3, 2, 3, 2, 2, 2, 2, 3])
TEAM_OFFSET = np.concatenate([[0], np.cumsum(TEAMS_PER_BRANCH)[:-1]])
TEAMS = tuple(f"{b}-{k + 1}" for b, t in zip(BRANCHES, TEAMS_PER_BRANCH) for k in range(t))
INSPECTORS_PER_TEAM = 3
SYLLABLES = tuple("鑫瑞华泰宏达恒丰源盛德隆祥安利通远嘉汇博润信诚永兴裕昌富")
PRODUCTS = ("working_capital", "business_credit_line", "term_loan", "trade_finance",
            "project_finance", "consumer", "mortgage", "auto")
PRODUCT_P = np.array([  # per segment, over PRODUCTS
    [0.55, 0.30, 0.15, 0, 0, 0, 0, 0],
    [0.45, 0, 0.30, 0.25, 0, 0, 0, 0],
    [0.25, 0, 0.40, 0.20, 0.15, 0, 0, 0],
    [0, 0, 0, 0, 0, 0.45, 0.35, 0.20],
])
AMORT = np.array([0.10, 0.05, 0.20, 0.10, 0.12, 0.25, 0.05, 0.20])  # share repaid per year
MITIGATIONS = ("secured", "guaranteed", "unsecured")
MITIGATION_P = np.array([[0.35, 0.40, 0.25], [0.45, 0.35, 0.20], [0.55, 0.30, 0.15], [0.30, 0.10, 0.60]])
GRADE0_P = np.array([  # initial grade by segment, AAA..D
    [0, 0.02, 0.08, 0.25, 0.32, 0.23, 0.08, 0.02, 0, 0],
    [0, 0.02, 0.08, 0.25, 0.32, 0.23, 0.08, 0.02, 0, 0],
    [0.02, 0.06, 0.17, 0.30, 0.25, 0.14, 0.05, 0.01, 0, 0],
    [0.01, 0.05, 0.15, 0.35, 0.27, 0.13, 0.04, 0, 0, 0],
])
ROLES = ("defendant", "plaintiff", "third_party")
CASE_TYPES = ("civil", "commercial", "labor", "administrative", "criminal")
CASE_TYPE_P = np.array([0.30, 0.45, 0.15, 0.08, 0.02])
CASE_CHAR = ("民", "民", "民", "行", "刑")
STAGES = ("filed", "judgment", "enforcement", "dishonest_debtor", "closed")
OUTCOMES = ("normal", "concern", "deteriorated")
NOTES = (
    ("经营正常，资金用途与约定一致", "押品状况良好，账实相符", "订单稳定，现金流正常"),
    ("销售收入同比下滑", "存货积压、应收账款增加", "主要客户流失，需持续关注"),
    ("停产半停产，员工欠薪", "实际控制人联系困难", "对外担保代偿压力大，涉诉增加"),
)
BUREAU_SOURCES = ("pboc-crc", "baihang")

# One-year transition matrix on AAA..C, D, shaped like published corporate
# averages (strongly diagonal; default rates tiny for AAA, ~18-43% for CCC..C).
ANNUAL = np.array([
    [0.9100, 0.0810, 0.0060, 0.0010, 0.0008, 0.0004, 0.0004, 0.0002, 0.0001, 0.0001],
    [0.0060, 0.9050, 0.0800, 0.0060, 0.0010, 0.0008, 0.0005, 0.0003, 0.0002, 0.0002],
    [0.0005, 0.0200, 0.9150, 0.0550, 0.0050, 0.0020, 0.0010, 0.0005, 0.0004, 0.0006],
    [0.0002, 0.0020, 0.0380, 0.9000, 0.0450, 0.0080, 0.0030, 0.0010, 0.0008, 0.0020],
    [0.0001, 0.0005, 0.0030, 0.0550, 0.8400, 0.0780, 0.0110, 0.0030, 0.0014, 0.0080],
    [0.0000, 0.0003, 0.0020, 0.0040, 0.0580, 0.8300, 0.0550, 0.0100, 0.0057, 0.0350],
    [0.0000, 0.0000, 0.0020, 0.0040, 0.0120, 0.1300, 0.5600, 0.0800, 0.0320, 0.1800],
    [0.0000, 0.0000, 0.0010, 0.0020, 0.0080, 0.0500, 0.1300, 0.4500, 0.1100, 0.2490],
    [0.0000, 0.0000, 0.0000, 0.0010, 0.0040, 0.0200, 0.0700, 0.1000, 0.3800, 0.4250],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 1.0],
])
STRESS_LEVELS = 6  # stress quantised to 0, 0.2, ..., 1.0
INSPECTION_DAYS = np.array([180, 180, 180, 90, 60, 60, 30, 30, 30, 30])
DET_P = np.array([0.02, 0.02, 0.03, 0.05, 0.08, 0.12, 0.25, 0.40, 0.50, 0.0])  # by initial grade


def entropy(seed: int, *extra: int) -> list[int]:
    """Seed material for numpy: any int (a negative seed differs from its absolute value)."""
    return [abs(seed), *extra] if seed >= 0 else [-seed, *extra, 1 << 32]


def monthly_matrix() -> np.ndarray:
    """The 12th root of ``ANNUAL`` by eigen-decomposition, clipped and renormalised."""
    annual = ANNUAL / ANNUAL.sum(axis=1, keepdims=True)
    w, v = np.linalg.eig(annual)
    root = (v @ np.diag(w.astype(complex) ** (1 / 12)) @ np.linalg.inv(v)).real
    root = np.clip(root, 0.0, None)
    return root / root.sum(axis=1, keepdims=True)


def stressed_cumulative() -> np.ndarray:
    """Cumulative monthly matrices, one per stress level: shape (levels, 10, 10).

    Stress multiplies downgrade probabilities (by up to 15x, default by up to
    3x) and damps upgrades; at stress 0 the default column is cut to 25% so that
    most defaults come from borrowers whose health visibly worsens first.
    """
    base = monthly_matrix()
    n = len(GRADES)
    i, j = np.indices((n, n))
    out = np.empty((STRESS_LEVELS, n, n))
    for lvl in range(STRESS_LEVELS):
        s = lvl / (STRESS_LEVELS - 1)
        m = base.copy()
        m[(j > i) & (j < D)] *= 1 + 14 * s
        m[:D, D] *= 0.25 + 2.75 * s
        m[j < i] *= 1 - 0.8 * s
        np.fill_diagonal(m, 0.0)
        off = m.sum(axis=1, keepdims=True)
        m = np.where(off > 0.8, m * 0.8 / np.maximum(off, 1e-12), m)
        np.fill_diagonal(m, 1.0 - m.sum(axis=1))
        out[lvl] = np.cumsum(m, axis=1)
    out[:, :, -1] = 1.0
    return out


def _cat(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray | None = None,
         size: int | None = None) -> np.ndarray:
    """Categorical draws: from one probability vector, or from ``probs[rows]``."""
    cum = np.cumsum(probs, axis=-1)
    cum = cum / cum[..., -1:]
    if rows is None:
        return np.minimum(np.searchsorted(cum, rng.random(size), side="right"), len(probs) - 1)
    u = rng.random(len(rows))
    return np.minimum((u[:, None] >= cum[rows]).sum(axis=1), probs.shape[1] - 1)


def _clock(rng: np.random.Generator, day0: np.ndarray, lo_h: float, hi_h: float) -> np.ndarray:
    """A time of day between lo_h and hi_h hours on the (local) day starting at day0."""
    return day0 + rng.integers(int(lo_h * HOUR), int(hi_h * HOUR), len(day0))


def _floor_day(t: np.ndarray) -> np.ndarray:
    return t - t % DAY


def period_starts(start: str, months: int) -> np.ndarray:
    """Local midnights of ``start`` plus 0..months calendar months (day clamped)."""
    d0 = date.fromisoformat(start)
    first = np.datetime64(f"{d0.year:04d}-{d0.month:02d}", "M") + np.arange(months + 2)
    lengths = (first[1:] - first[:-1]).astype("timedelta64[D]").astype(np.int64)
    days = first[:-1].astype("datetime64[D]") + np.minimum(d0.day - 1, lengths - 1)
    return days.astype("datetime64[s]").astype(np.int64)


@dataclass
class Portfolio:
    """The generated world: borrower attributes and one column table per event type."""

    n: int
    months: int
    start_ts: int
    end_ts: int
    borrower: dict[str, np.ndarray]
    names: list[str | None]
    tables: dict[str, dict[str, np.ndarray]]
    case_ids: list[str]


class _Model:
    def __init__(self, n: int, months: int, seed: int, start: str) -> None:
        self.n, self.months = n, months
        self.ps = period_starts(start, months)
        self.start_ts, self.end_ts = int(self.ps[0]), int(self.ps[-1])
        self.mid = (self.ps[:-1] + self.ps[1:]) // 2
        self.days = (self.ps[1:] - self.ps[:-1]) // DAY
        kids = np.random.SeedSequence(entropy(seed)).spawn(9)
        self.rngs = [np.random.default_rng(k) for k in kids]
        self._t0 = self.start_ts - 400 * DAY  # before any instant; keys: borrower * span + (t - t0)
        self._span = self.end_ts - self._t0 + 1

    # -- borrowers and hidden health ---------------------------------------
    def borrowers(self) -> None:
        rng, n = self.rngs[0], self.n
        seg = _cat(rng, SEG_P, size=n)
        expo = np.round(np.exp(rng.normal(np.log(EXPO_MEDIAN[seg]), EXPO_SIGMA[seg])), -2)
        branch = rng.integers(0, len(BRANCHES), n)
        team = TEAM_OFFSET[branch] + (rng.random(n) * TEAMS_PER_BRANCH[branch]).astype(np.int64)
        industry = np.where(seg == 3, len(INDUSTRIES) - 1, _cat(rng, INDUSTRY_P, size=n))
        nacc = np.where(seg == 3, 1 + (rng.random(n) < 0.4), 1 + _cat(rng, np.array([0.5, 0.35, 0.15]), size=n))
        prod = np.stack([_cat(rng, PRODUCT_P, seg) for _ in range(3)], axis=1)
        mitig = np.where(prod[:, 0] == PRODUCTS.index("mortgage"), 0, _cat(rng, MITIGATION_P, seg))
        grade0 = _cat(rng, GRADE0_P, seg)
        new = rng.random(n) < 0.15
        span = max(1, (self.end_ts - self.start_ts) // DAY - 20)
        dday = np.where(new, rng.integers(0, span, n), -rng.integers(1, 366, n))
        disbursed = _clock(rng, self.start_ts + dday * DAY, 9, 17)
        t_start = np.where(new, disbursed, self.start_ts)
        syl = rng.integers(0, len(SYLLABLES), (n, 2))
        names: list[str | None] = [
            None if s == 3 else f"{CITY[b]}{SYLLABLES[x]}{SYLLABLES[y]}{INDUSTRY_WORD[i]}有限公司"
            for s, b, x, y, i in zip(seg.tolist(), branch.tolist(), syl[:, 0].tolist(),
                                     syl[:, 1].tolist(), industry.tolist())
        ]
        self.b = dict(seg=seg, exposure=expo, branch=branch, team=team, industry=industry,
                      nacc=nacc, prod=prod, mitig=mitig, grade0=grade0,
                      disbursed=disbursed, t_start=t_start)
        self.names = names

    def health(self) -> None:
        """Latent stress in [0, 1]: zero for most; a ramp from a random onset for some."""
        rng, n, b = self.rngs[1], self.n, self.b
        span = (self.end_ts - self.start_ts) // DAY
        det = rng.random(n) < DET_P[b["grade0"]]
        onset = self.start_ts + rng.integers(-90, max(span - 45, -89), n) * DAY
        onset = np.maximum(onset, b["t_start"] + 45 * DAY)
        will = det & (rng.random(n) < 0.5)
        lead = rng.integers(100, 361, n)
        ramp = np.where(will, lead, rng.integers(120, 421, n)) * DAY
        peak = np.where(will, 1.0, rng.uniform(0.35, 0.9, n))
        # the overdue run that reaches 90 DPD at t_def (batch time, 02:00-03:00)
        t_def = _clock(rng, _floor_day(onset + lead * DAY), 2, 3)
        t_def = np.where(will, np.maximum(t_def, b["t_start"] + 120 * DAY), NO_TIME)
        t_grade_d = _clock(rng, _floor_day(t_def) + rng.integers(3, 26, n) * DAY, 9, 18)
        sudden = rng.random(n) < 0.003  # default out of the blue: no prior signal
        t_sudden = _clock(rng, self.start_ts + rng.integers(60, max(span, 61) + 1, n) * DAY, 9, 18)
        t_sudden = np.maximum(t_sudden, b["t_start"] + 60 * DAY)
        t_grade_d = np.where(will, t_grade_d, NO_TIME)
        t_grade_d = np.where(sudden, np.minimum(t_grade_d, t_sudden), t_grade_d)
        self.h = dict(det=det, onset=np.where(det, onset, NO_TIME), ramp=ramp,
                      peak=np.where(det, peak, 0.0), will=will, t_def=t_def, t_grade_d=t_grade_d,
                      multi=det & (rng.random(n) < 0.6), ext=det & (rng.random(n) < 0.75),
                      ext_thr=rng.uniform(0.15, 0.6, n), jump=det & (rng.random(n) < 0.5),
                      jump_at=rng.uniform(0.1, 0.8, n), jump_x=rng.uniform(1.6, 2.8, n),
                      gjump=det & (rng.random(n) < 0.25), gjump_x=rng.uniform(1.0, 1.8, n))

    def stress(self, idx: np.ndarray | slice, t: np.ndarray) -> np.ndarray:
        h = self.h
        x = (t - h["onset"][idx]) / h["ramp"][idx]
        return h["peak"][idx] * np.clip(x, 0.0, 1.0)

    # -- ratings -------------------------------------------------------------
    def ratings(self) -> dict[str, np.ndarray]:
        rng, n = self.rngs[2], self.n
        cum = stressed_cumulative()
        g = self.b["grade0"].astype(np.int64)
        grades = np.empty((n, self.months + 1), np.int8)
        grades[:, 0] = g
        t_d = self.h["t_grade_d"]
        out: list[tuple[np.ndarray, ...]] = []
        for k in range(self.months):
            s = self.stress(slice(None), np.full(n, self.mid[k]))
            lvl = np.rint(s * (STRESS_LEVELS - 1)).astype(np.int64)
            new = np.minimum((rng.random(n)[:, None] >= cum[lvl, g]).sum(axis=1), D)
            tc = _clock(rng, self.ps[k] + rng.integers(0, self.days[k], n) * DAY, 9, 18)
            ok = (new != g) & (tc > self.b["t_start"]) & (g != D)
            forced = (t_d >= self.ps[k]) & (t_d < self.ps[k + 1]) & (g != D)
            new, tc, ok = np.where(forced, D, new), np.where(forced, t_d, tc), ok | forced
            idx = np.flatnonzero(ok)
            out.append((tc[idx], idx, g[idx], new[idx]))
            g = np.where(ok, new, g)
            grades[:, k + 1] = g
        self.grades = grades
        t, b, old, new = (np.concatenate(c) for c in zip(*out))
        key = b * self._span + (t - self._t0)  # at most one change per borrower-month
        order = np.argsort(key, kind="stable")
        self._rc_key, self._rc_new = key[order], new[order]
        return dict(t=t, b=b, old=old.astype(np.int8), new=new.astype(np.int8))

    def grade_at(self, bi: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Each borrower's grade just before instant t (changes at t itself not yet seen)."""
        pos = np.searchsorted(self._rc_key, bi * self._span + (t - self._t0), side="left") - 1
        prior = pos >= 0
        prior[prior] = self._rc_key[pos[prior]] // self._span == bi[prior]
        out = self.b["grade0"][bi].copy()
        out[prior] = self._rc_new[pos[prior]]
        return out

    # -- overdue episodes ----------------------------------------------------
    def overdue(self) -> dict[str, np.ndarray]:
        rng, n, b, h = self.rngs[3], self.n, self.b, self.h
        base = np.array([0.12, 0.06, 0.03, 0.15])[b["seg"]]
        gmult = np.array([0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.5, 3.0, 3.5, 0.0])
        busy = np.zeros((n, 3), np.int64)
        inst_share = rng.uniform(0.01, 0.04, n)
        d0f = rng.integers(1, 6, n)
        t0f = h["t_def"] - (90 - d0f) * DAY
        rows: list[tuple[np.ndarray, ...]] = []  # (t, b, account, dpd)
        for k in range(self.months):
            s = self.stress(slice(None), np.full(n, self.mid[k]))
            g = self.grades[:, k]
            gone = (g == D) | (h["t_def"] <= self.ps[k])
            hit = (rng.random(n) < base * gmult[g] * (1 + 10 * s)) & ~gone
            acct = np.where(rng.random(n) < 0.5, 0, (rng.random(n) * b["nacc"]).astype(np.int64))
            t0 = _clock(rng, self.ps[k] + rng.integers(0, self.days[k], n) * DAY, 2, 3)
            ok = hit & (busy[np.arange(n), acct] < t0) & (t0 > b["t_start"] + 25 * DAY)
            ok &= ~(h["will"] & (acct == 0) & (t0 > t0f - 100 * DAY))
            i = np.flatnonzero(ok)
            a, t0, d0 = acct[i], t0[i], rng.integers(1, 6, len(i))
            c = np.ceil(np.exp(rng.normal(np.log(2.5 + 45 * s[i] ** 1.5), 0.5))).astype(np.int64)
            c = np.clip(c, 1, 88 - d0)
            cure = _floor_day(t0) + c * DAY + rng.integers(6 * HOUR, 14 * HOUR, len(i))
            busy[i, a] = cure + 5 * DAY
            rows.append((t0, i, a, d0))
            for mark in (14, 29, 59):
                f = c > mark + 1
                rows.append((t0[f] + mark * DAY, i[f], a[f], d0[f] + mark))
            rows.append((cure, i, a, np.zeros(len(i), np.int64)))
        w = np.flatnonzero(h["will"])  # the run to default on account 1, never cured
        for off in (0, 29, 59):
            rows.append((t0f[w] + off * DAY, w, np.zeros(len(w), np.int64), d0f[w] + off))
        extra = rng.integers(1, 6, n)
        for j in range(5):
            days = 90 + extra[w] + 30 * j
            rows.append((t0f[w] + (days - d0f[w]) * DAY, w, np.zeros(len(w), np.int64), days))
        t, bi, a, dpd = (np.concatenate(c) for c in zip(*rows))
        inst = b["exposure"][bi] * inst_share[bi] / b["nacc"][bi]
        amount = np.where(dpd > 0, np.round(inst * (1 + dpd // 30), 2), 0.0)
        return dict(t=t, b=bi, account=a.astype(np.int8), product=b["prod"][bi, a].astype(np.int8),
                    dpd=dpd.astype(np.int32), amount=amount)

    # -- bureau reports ------------------------------------------------------
    def bureau(self) -> dict[str, np.ndarray]:
        rng, n, b, h, m = self.rngs[4], self.n, self.b, self.h, self.months
        debt0 = b["exposure"] * np.exp(rng.normal(np.log(0.6), 0.8, n))
        walk = np.exp(np.cumsum(rng.normal(0.0, 0.04, (n, m)), axis=1))
        has_g = rng.random(n) < np.where(b["seg"] == 3, 0.1, 0.4)
        g0 = np.where(has_g, b["exposure"] * np.exp(rng.normal(np.log(0.35), 0.8, n)), 0.0)
        cover = np.stack([rng.random(n) < 0.97, rng.random(n) < np.where(b["seg"] == 2, 0.6, 0.9)])
        onset, ramp = h["onset"], h["ramp"]
        t_ext = np.where(h["ext"], onset + (h["ext_thr"] * ramp).astype(np.int64), NO_TIME)
        t_jump = np.where(h["jump"], onset + (h["jump_at"] * ramp).astype(np.int64), NO_TIME)
        t_gjump = np.where(h["gjump"], onset + (0.5 * ramp).astype(np.int64), NO_TIME)
        parts = []
        for src, day in enumerate((2, 16)):
            batch = self.ps[:-1] + day * DAY + 2 * HOUR
            t = batch[None, :] + rng.integers(0, 2 * HOUR, (n, m))
            live = cover[src][:, None] & (t > b["t_start"][:, None])
            bi, ki = np.nonzero(live)
            parts.append((t[bi, ki], bi, ki, np.full(len(bi), src)))
        t, bi, ki, src = (np.concatenate(c) for c in zip(*parts))
        s = self.stress(bi, t)
        debt = debt0[bi] * walk[bi, ki] * (1 + 0.3 * s) * np.where(t >= t_jump[bi], h["jump_x"][bi], 1.0)
        dpd = np.where(t >= t_ext[bi], (t - t_ext[bi]) // DAY + 1, 0)
        blip = rng.random(len(t)) < 0.012
        dpd = np.where((dpd == 0) & blip, rng.integers(1, 20, len(t)), np.minimum(dpd, 999))
        overdue = np.where(dpd > 0, debt * np.minimum(0.6, 0.03 + dpd / 300), 0.0)
        lam = np.where(b["seg"][bi] == 3, 0.6, 0.35) + np.where(h["multi"][bi], 9.0 * s, 0.0)
        inq = rng.poisson(lam)
        guar = np.where(t >= t_gjump[bi], np.maximum(g0[bi], b["exposure"][bi] * h["gjump_x"][bi]), g0[bi])
        return dict(t=t, b=bi, source=src.astype(np.int8), dpd=dpd.astype(np.int32),
                    overdue=np.round(overdue, 2), inquiries=inq.astype(np.int32),
                    debt=np.round(debt, 2), guarantee=np.round(guar, 2))

    # -- lawsuits --------------------------------------------------------------
    def lawsuits(self) -> tuple[dict[str, np.ndarray], list[str]]:
        rng, n, b, m = self.rngs[5], self.n, self.b, self.months
        h = self.h
        s_mat = h["peak"][:, None] * np.clip(
            (self.mid[None, :] - h["onset"][:, None]) / h["ramp"][:, None], 0.0, 1.0)
        lam = np.where(b["seg"] == 3, 0.0006, 0.003)[:, None] * (1 + 30 * s_mat ** 2)
        cell = np.repeat(np.arange(n * m), rng.poisson(lam).ravel())
        bi, ki = cell // m, cell % m
        tf = _clock(rng, self.ps[ki] + (rng.random(len(bi)) * self.days[ki]).astype(np.int64) * DAY, 9, 18)
        keep = tf > b["t_start"][bi]
        bi, ki, tf = bi[keep], ki[keep], tf[keep]
        c, s = len(bi), s_mat[bi, ki]
        role = np.where(rng.random(c) < 0.75 + 0.2 * s, 0, np.where(rng.random(c) < 0.7, 1, 2))
        ctype = _cat(rng, CASE_TYPE_P, size=c)
        ratio = np.minimum(1.5, np.exp(rng.normal(np.log(0.01 * (1 + 8 * s)), 1.0)))
        claim = np.round(b["exposure"][bi] * ratio, 2)
        inter = ratio >= 0.2  # large claims go to the intermediate court

        def later(t: np.ndarray, lo: int, hi: int) -> np.ndarray:
            return _clock(rng, _floor_day(t) + rng.integers(lo, hi, c) * DAY, 9, 18)

        t_j = later(tf, 45, 180)
        enf = (role == 0) & (rng.random(c) < 0.5 + 0.4 * s)
        t_e = later(t_j, 20, 90)
        dis = enf & (rng.random(c) < 0.1 + 0.5 * s)
        t_d = later(t_e, 30, 120)
        t_c = later(np.where(dis, t_d, np.where(enf, t_e, t_j)), 30, 240)
        closes = rng.random(c) < 0.9
        cases, every = np.arange(c), np.ones(c, bool)
        parts = [(tf, 0, every), (t_j, 1, every), (t_e, 2, enf), (t_d, 3, dis), (t_c, 4, closes)]
        t = np.concatenate([p[0][p[2]] for p in parts])
        case = np.concatenate([cases[p[2]] for p in parts])
        stage = np.concatenate([np.full(int(p[2].sum()), p[1]) for p in parts])
        year = (tf.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970).tolist()
        br = b["branch"][bi].tolist()
        case_ids = [
            f"({y}){PROVINCE[r]}{'01' if big else COURT_CODE[r]}{CASE_CHAR[ct]}初{10000 + i}号"
            for i, (y, r, big, ct) in enumerate(zip(year, br, inter.tolist(), ctype.tolist()))
        ]
        court = np.where(inter, b["branch"][bi] + len(BRANCHES), b["branch"][bi])
        table = dict(t=t, b=bi[case], case=case, stage=stage.astype(np.int8),
                     role=role[case].astype(np.int8), ctype=ctype[case].astype(np.int8),
                     claim=claim[case], court=court[case].astype(np.int8))
        return table, case_ids

    # -- inspections and profile updates ---------------------------------------
    def inspections(self) -> dict[str, np.ndarray]:
        rng, b = self.rngs[6], self.b
        g0 = b["grade0"]
        new = b["t_start"] > self.start_ts
        first = np.where(new, rng.integers(15, 31, self.n),
                         1 + (rng.random(self.n) * INSPECTION_DAYS[g0]).astype(np.int64))
        tn = _clock(rng, _floor_day(b["t_start"]) + first * DAY, 9, 17)
        out: list[tuple[np.ndarray, ...]] = []
        i = np.flatnonzero(tn < self.end_ts)
        while len(i):
            t = tn[i]
            g = self.grade_at(i, t)
            s = self.stress(i, t)
            p = np.stack([np.ones(len(i)), 0.035 + 0.5 * s, 0.003 + 0.6 * s ** 2], axis=1)
            p[:, 0] = np.maximum(0.93 - 1.1 * s, 0.05)
            outcome = np.where(g == D, 2, _cat(rng, p, np.arange(len(i))))
            note = np.where(rng.random(len(i)) < 0.6, rng.integers(0, 3, len(i)), -1)
            out.append((t, i, outcome, note))
            days = INSPECTION_DAYS[g] * rng.uniform(0.85, 1.15, len(i))
            days = np.where(s > 0.5, np.minimum(days, 45), days).astype(np.int64)
            tn[i] = _clock(rng, _floor_day(t) + days * DAY, 9, 17)
            i = i[tn[i] < self.end_ts]
        t, bi, outcome, note = (np.concatenate(c) for c in zip(*out))
        return dict(t=t, b=bi, outcome=outcome.astype(np.int8), note=note.astype(np.int8))

    def profiles(self) -> dict[str, np.ndarray]:
        rng, n, b = self.rngs[7], self.n, self.b
        ts, bs = [b["t_start"]], [np.arange(n)]
        for k in range(6, self.months, 6):
            tu = _clock(rng, self.ps[k] + rng.integers(0, 28, n) * DAY, 9, 17)
            i = np.flatnonzero((rng.random(n) < 0.3) & (tu > b["t_start"] + 60 * DAY))
            ts.append(tu[i])
            bs.append(i)
        t, bi = np.concatenate(ts), np.concatenate(bs)
        years = (t - b["t_start"][bi]) / (365 * DAY)
        expo = np.round(b["exposure"][bi] * np.maximum(0.25, 1 - AMORT[b["prod"][bi, 0]] * years), -2)
        return dict(t=t, b=bi, exposure=expo, grade=self.grade_at(bi, t).astype(np.int8))


def build(n: int, months: int, seed: int, start: str) -> Portfolio:
    """Generate the portfolio; events at or after the horizon end are dropped."""
    m = _Model(n, months, seed, start)
    m.borrowers()
    m.health()
    tables = {"rating_change": m.ratings(), "overdue": m.overdue(), "bureau_report": m.bureau()}
    tables["lawsuit"], case_ids = m.lawsuits()
    tables["inspection_completed"] = m.inspections()
    tables["loan_profile"] = m.profiles()
    for name, tab in tables.items():
        keep = tab["t"] < m.end_ts
        tables[name] = {k: np.ascontiguousarray(v[keep]) for k, v in tab.items()}
    return Portfolio(n=n, months=months, start_ts=m.start_ts, end_ts=m.end_ts,
                     borrower=m.b | {"will_default": m.h["will"], "deteriorating": m.h["det"]},
                     names=m.names, tables=tables, case_ids=case_ids)
