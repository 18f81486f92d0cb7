"""Private: the generative model behind :mod:`monitor.simulate` (numpy, vectorised).

Times are int64 seconds on the *local* clock (UTC+08:00) since the epoch, so a
day boundary is a multiple of ``DAY`` and the text form is the local wall time
followed by ``+08:00``. Every draw comes from numpy generators seeded from one
``SeedSequence``; each component has its own child stream, so the output is a
pure function of (borrowers, months, seed, start).

This module makes every feed except the inspections: those follow the policy's
due dates and come from :mod:`monitor._sim_visits`, which runs the engine over
these events. The parameters below are calibrated so that the statistics
:mod:`monitor._sim_calibration` measures on the written file fall in its bands
(each band names its public source there); the comments say which band each
parameter moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from monitor.events import GRADES

DAY = 86_400
HOUR = 3_600
YEAR = 365.25 * DAY
OFFSET = "+08:00"
D = len(GRADES) - 1  # index of grade D
CCC = GRADES.index("CCC")
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
# Initial grade by segment, AAA..D. Band "initial book at CCC or worse <= 2 %": CCC and below
# hold about 1 % of the book (S&P: CCC is rare in a healthy book and concentrated on
# near-defaulters; 91.7 % of 2024 defaulters were CCC+ or below before default).
GRADE0_P = np.array([
    [0, 0.02, 0.09, 0.27, 0.34, 0.268, 0.010, 0.002, 0, 0],
    [0, 0.02, 0.09, 0.27, 0.34, 0.268, 0.010, 0.002, 0, 0],
    [0.02, 0.06, 0.18, 0.31, 0.26, 0.162, 0.007, 0.001, 0, 0],
    [0.01, 0.05, 0.16, 0.36, 0.28, 0.133, 0.006, 0.001, 0, 0],
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

# --- defaults ----------------------------------------------------------------
# Band "annual default rate 1.5-2.5 %" (S&P Global's annual default studies: 3.7 % for
# speculative grade in 2023; the regulator's NPL ratio ~1.6 %, small business ~2.2 %).
# Annual default intensity by initial grade AAA..C (shaped like S&P's one-year default
# rates by rating, scaled to a bank's small-business book); the book averages ~2 %.
PD_ANNUAL = np.array([0.0002, 0.0005, 0.0013, 0.0060, 0.0185, 0.0550, 0.2200, 0.3200, 0.4000, 0.0])
SEASONING_DAYS = 180  # no default within half a year of disbursement
SUDDEN_SHARE = 0.12  # defaults with no prior deterioration: grade D out of the blue, arrears after
RATING_FIRST_SHARE = 0.25  # signalled defaults whose rating goes to D before 90 DPD
# Band "defaulted borrowers leave 90-360 days after default": written off, repaid or sold.
EXIT_DAYS = (90, 360)
# Non-defaulting deterioration (the false alarms a good policy must live with): chance per
# year of a stress episode that peaks and recovers, by initial grade AAA..C.
STRESS_ANNUAL = np.array([0.010, 0.015, 0.020, 0.030, 0.045, 0.070, 0.150, 0.200, 0.250, 0.0])

# --- ratings -----------------------------------------------------------------
# Band "rating downgrades / upgrades per borrower-year 4-8 % / 6-12 %" (S&P Global's 2024
# transition study: 5.8 % of issuers downgraded, 9.6 % upgraded). Unstressed annual rates by
# grade AAA..C; stress multiplies the downgrade rate (and adds a pull towards CCC for the
# strongly stressed) and damps upgrades. Moves to D come only from the default model.
UP_ANNUAL = np.array([0.0, 0.03, 0.05, 0.08, 0.10, 0.12, 0.15, 0.12, 0.10, 0.0])
DOWN_ANNUAL = np.array([0.035, 0.03, 0.025, 0.02, 0.018, 0.018, 0.04, 0.04, 0.0, 0.0])
DOWN_STRESS = 8.0  # downgrade rate x (1 + DOWN_STRESS x stress)
PULL_TO_CCC = 0.25  # extra monthly downgrade chance x stress^2 while better than CCC
TWO_NOTCH = 0.15  # share of moves that jump two notches

# --- own-bank overdue --------------------------------------------------------
# Bands "borrowers with any own-bank overdue in a year 8-15 %, ~70 % of episodes cured within
# 7 days" and "stock at 1-89 DPD at a month end 1.5-3.0 %" (the regulator's special-mention
# ratio, 2.2 % of loans at the end of 2023; most small arrears are technical and cure within a
# week). Two kinds of episode, each with a monthly chance:
# - technical (cured by 7 DPD): mostly habitual late payers (LATE_PAYER_SHARE of the book, a
#   LATE_PAYER_MONTHLY chance every month), else rare (TECHNICAL_MONTHLY by segment);
# - long (cured at 8-88 DPD, typically after one or two months): by segment x grade factor x
#   (1 + LONG_STRESS x stress), so that long arrears mostly mean real trouble (about one in four
#   borrowers who reach 30 DPD goes on to default).
TECHNICAL_MONTHLY = np.array([0.0010, 0.0008, 0.0006, 0.0012])
LATE_PAYER_SHARE, LATE_PAYER_MONTHLY = 0.029, 0.5
LONG_MONTHLY = np.array([0.0027, 0.0023, 0.0017, 0.0030])
LONG_GRADE = np.array([0.3, 0.4, 0.5, 0.8, 1.0, 1.4, 2.0, 2.5, 3.0, 0.0])
LONG_STRESS = 45.0
LONG_MEDIAN_DPD = 70  # DPD at cure: lognormal around 70 x (1 + stress), clipped to 8-88

# --- bureau ------------------------------------------------------------------
# A random external DPD on 0.15 % of an unstressed borrower's reports (technical arrears at
# another lender caught by the monthly snapshot; the earlier model had 1.2 %), a legitimate
# jump in external debt (a new facility elsewhere) for 1.5 % of borrowers a year, and
# guarantees given to others that exceed the borrower's own exposure for ~0.5 % of borrowers.
BUREAU_BLIP = 0.0015
DEBT_JUMP_ANNUAL = 0.015
GUARANTEE_MEDIAN, GUARANTEE_SIGMA = 0.25, 0.6

# --- lawsuits ----------------------------------------------------------------
# Companies are sued now and then in the normal course of business (~3.5 % a year); an
# unstressed defendant rarely reaches enforcement, and very rarely the dishonest-debtor list.
LAWSUIT_MONTHLY = np.array([0.003, 0.003, 0.003, 0.0006])

# --- inspections (outcomes; the dates come from the engine) -------------------
INSPECT_CONCERN, INSPECT_DETERIORATED = 0.03, 0.002  # unstressed borrower, per visit


def entropy(seed: int, *extra: int) -> list[int]:
    """Seed material for numpy: any int (a negative seed differs from its absolute value)."""
    return [abs(seed), *extra] if seed >= 0 else [-seed, *extra, 1 << 32]


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
    """The generated world: borrower attributes, hidden health and one column table per feed."""

    n: int
    months: int
    start_ts: int
    end_ts: int
    borrower: dict[str, np.ndarray]
    health: dict[str, np.ndarray]
    names: list[str | None]
    tables: dict[str, dict[str, np.ndarray]]
    case_ids: list[str]

    def stress(self, idx: np.ndarray | slice, t: np.ndarray) -> np.ndarray:
        return stress(self.health, idx, t)


def stress(h: dict[str, np.ndarray], idx: np.ndarray | slice, t: np.ndarray) -> np.ndarray:
    """Latent stress in [0, 1] at t: a ramp from the onset to the peak, a plateau, a recovery."""
    up = np.clip((t - h["onset"][idx]) / h["ramp"][idx], 0.0, 1.0)
    down = np.clip((t - h["recover"][idx]) / h["recover_len"][idx], 0.0, 1.0)
    return h["peak"][idx] * up * (1.0 - down)


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

    # -- borrowers -----------------------------------------------------------
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

    # -- hidden health, defaults and exits -------------------------------------
    def health(self) -> None:
        """Who defaults when (and how), who only deteriorates, and when the defaulted leave."""
        rng, n, b = self.rngs[1], self.n, self.b
        g0 = b["grade0"]
        # default: an exponential time from the end of seasoning, at the grade's intensity
        risk0 = np.maximum(self.start_ts, b["disbursed"] + SEASONING_DAYS * DAY)
        pd = np.maximum(PD_ANNUAL[g0], 1e-9)
        t_def = risk0 + (rng.exponential(1.0, n) / pd * YEAR).astype(np.int64)
        t_def = _clock(rng, _floor_day(t_def), 2, 3)  # the 90-DPD crossing comes with the night batch
        horizon = self.end_ts + 400 * DAY  # deterioration of later defaulters shows near the end
        doomed = t_def < horizon
        sudden = doomed & (rng.random(n) < SUDDEN_SHARE)
        signalled = doomed & ~sudden
        # signalled: stress ramps from the onset to 1 some 60-100 days before the 90-DPD crossing
        lead = rng.integers(150, 451, n)
        onset = t_def - lead * DAY
        ramp_end = t_def - rng.integers(60, 101, n) * DAY
        ramp = np.maximum(ramp_end - onset, 30 * DAY)
        rating_first = signalled & (rng.random(n) < RATING_FIRST_SHARE)
        t_grade_d = np.where(rating_first, _clock(rng, _floor_day(t_def) - rng.integers(5, 31, n) * DAY, 9, 18),
                             _clock(rng, _floor_day(t_def) + rng.integers(3, 26, n) * DAY, 9, 18))
        # sudden: grade D first, the arrears start 0-10 days later and reach 90 DPD after that
        t_sudden = _clock(rng, _floor_day(t_def), 9, 18)
        run_start = np.where(sudden, _floor_day(t_sudden) + rng.integers(1, 11, n) * DAY, NO_TIME)
        d0 = rng.integers(1, 6, n)
        t_def = np.where(sudden, _clock(rng, run_start, 2, 3) + (90 - d0) * DAY, t_def)
        t_grade_d = np.where(sudden, t_sudden, np.where(signalled, t_grade_d, NO_TIME))
        t_def = np.where(doomed, t_def, NO_TIME)
        t_default = np.minimum(t_def, t_grade_d)  # the outcome instant (first 90 DPD or grade D)
        # most workouts take the better part of a year (mean ~270 days), none under 90 days
        exit_days = EXIT_DAYS[0] + 1 + (np.sqrt(rng.random(n)) * (EXIT_DAYS[1] - EXIT_DAYS[0] - 2)).astype(np.int64)
        t_exit = np.where(doomed, _clock(rng, _floor_day(t_default) + exit_days * DAY, 2, 3), NO_TIME)
        # non-defaulting deterioration: an episode that peaks and recovers
        # onsets from two years before the start (an episode lasts up to ~2 years), so that the
        # first year has as many episodes under way as the later ones
        span_years = (horizon - self.start_ts + 720 * DAY) / YEAR
        det = ~doomed & (rng.random(n) < STRESS_ANNUAL[g0] * span_years)
        d_onset = self.start_ts - 720 * DAY + (rng.random(n) * span_years * YEAR).astype(np.int64)
        d_ramp = rng.integers(60, 241, n) * DAY
        d_recover = d_onset + d_ramp + rng.integers(60, 241, n) * DAY
        self.h = dict(
            doomed=doomed, sudden=sudden, signalled=signalled, det=det,
            onset=np.where(signalled, onset, np.where(det, d_onset, NO_TIME)),
            ramp=np.where(signalled, ramp, d_ramp),
            peak=np.where(signalled, 1.0, np.where(det, rng.uniform(0.25, 0.85, n), 0.0)),
            recover=np.where(det, d_recover, NO_TIME), recover_len=rng.integers(90, 241, n) * DAY,
            t_def=t_def, t_grade_d=t_grade_d, t_default=t_default, t_exit=t_exit, d0=d0,
            run_start=np.where(sudden, run_start, np.where(doomed, t_def - (90 - d0) * DAY, NO_TIME)),
            multi=rng.random(n) < 0.6, ext=rng.random(n) < 0.75, ext_thr=rng.uniform(0.2, 0.6, n),
            jump=rng.random(n) < 0.5, jump_at=rng.uniform(0.1, 0.8, n), jump_x=rng.uniform(1.6, 2.8, n),
            gjump=rng.random(n) < 0.25, gjump_x=rng.uniform(1.0, 1.8, n),
            late_payer=rng.random(n) < LATE_PAYER_SHARE,
        )
        # a borrower is live (sends events) from its start until it leaves the book
        self.live_end = np.minimum(t_exit, self.end_ts)

    def stress(self, idx: np.ndarray | slice, t: np.ndarray) -> np.ndarray:
        return stress(self.h, idx, t)

    # -- ratings -------------------------------------------------------------
    def ratings(self) -> dict[str, np.ndarray]:
        rng, n, h = self.rngs[2], self.n, self.h
        g = self.b["grade0"].astype(np.int64)
        up_m, down_m = UP_ANNUAL / 12, DOWN_ANNUAL / 12
        t_d = h["t_grade_d"]
        out: list[tuple[np.ndarray, ...]] = []
        for k in range(self.months):
            tc = _clock(rng, self.ps[k] + rng.integers(0, self.days[k], n) * DAY, 9, 18)
            s = self.stress(slice(None), tc)
            p_up = up_m[g] * (1 - s)
            p_down = down_m[g] * (1 + DOWN_STRESS * s) + np.where(g < CCC, PULL_TO_CCC * s * s, 0.0)
            u = rng.random(n)
            step = np.where(rng.random(n) < TWO_NOTCH, 2, 1)
            new = np.where(u < p_up, np.maximum(g - step, 0),
                           np.where(u < p_up + p_down, np.minimum(g + step, D - 1), g))
            ok = (new != g) & (tc > self.b["t_start"]) & (tc < t_d) & (tc < self.live_end) & (g != D)
            forced = (t_d >= self.ps[k]) & (t_d < self.ps[k + 1]) & (g != D)
            new, tc, ok = np.where(forced, D, new), np.where(forced, t_d, tc), ok | forced
            idx = np.flatnonzero(ok)
            out.append((tc[idx], idx, g[idx], new[idx]))
            g = np.where(ok, new, g)
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
        p_tech = np.where(h["late_payer"], LATE_PAYER_MONTHLY, TECHNICAL_MONTHLY[b["seg"]])
        busy = np.zeros((n, 3), np.int64)
        inst_share = rng.uniform(0.01, 0.04, n)
        # a defaulter's accounts open no new episode from 100 days before its run to default
        quiet = np.where(h["doomed"], h["run_start"] - 100 * DAY, NO_TIME)
        # four 30-day months of burn-in before the start: the book goes live with its arrears
        periods = [(self.start_ts - (120 - 30 * j) * DAY, 30) for j in range(4)]
        periods += list(zip(self.ps[:-1].tolist(), self.days.tolist()))
        rows: list[tuple[np.ndarray, ...]] = []  # (t, b, account, dpd)
        for p0, days in periods:
            t0 = _clock(rng, p0 + rng.integers(0, days, n) * DAY, 2, 3)
            s = self.stress(slice(None), t0)
            g = self.grade_at(np.arange(n), np.maximum(t0, self.start_ts))
            p_long = LONG_MONTHLY[b["seg"]] * LONG_GRADE[g] * (1 + LONG_STRESS * s)
            u = rng.random(n)
            hit = u < p_tech + p_long
            is_tech = u < p_tech
            acct = np.where(rng.random(n) < 0.5, 0, (rng.random(n) * b["nacc"]).astype(np.int64))
            ok = hit & (busy[np.arange(n), acct] < t0) & (t0 > b["disbursed"] + 25 * DAY) & (t0 < quiet)
            i = np.flatnonzero(ok)
            a, t0, si = acct[i], t0[i], s[i]
            d0 = np.minimum(5, rng.geometric(0.55, len(i)))
            technical = is_tech[i]
            short = d0 + (rng.random(len(i)) * (8 - d0)).astype(np.int64)  # cured at DPD d0..7
            long_ = np.exp(rng.normal(np.log(LONG_MEDIAN_DPD * (1 + si)), 0.45))
            cure_dpd = np.where(technical, short, np.clip(np.ceil(long_), 8, 88)).astype(np.int64)
            c = cure_dpd - d0  # days from the first report to the cure
            cure = np.where(c > 0, _floor_day(t0) + c * DAY, t0) + rng.integers(4 * HOUR, 12 * HOUR, len(i))
            busy[i, a] = cure + 5 * DAY
            rows.append((t0, i, a, d0))
            for mark in (14, 29, 59):
                f = c > mark + 1
                rows.append((t0[f] + mark * DAY, i[f], a[f], d0[f] + mark))
            rows.append((cure, i, a, np.zeros(len(i), np.int64)))
        # the run to default on account 1, never cured until the borrower leaves
        w = np.flatnonzero(h["doomed"])
        t0f, d0f = _clock(rng, _floor_day(h["run_start"][w]), 2, 3), h["d0"][w]
        zero = np.zeros(len(w), np.int64)
        for off in (0, 29, 59):
            rows.append((t0f + off * DAY, w, zero, d0f + off))
        extra = rng.integers(1, 6, len(w))
        for j in range((EXIT_DAYS[1] + 120) // 30 + 1):
            days = 90 + extra + 30 * j
            rows.append((t0f + (days - d0f) * DAY, w, zero, days))
        # leaving the book: the arrears leave the core-banking system (repaid, written off or sold)
        rows.append((h["t_exit"][w], w, zero, zero))
        t, bi, a, dpd = (np.concatenate(c) for c in zip(*rows))
        keep = (t < self.live_end[bi]) | ((t == h["t_exit"][bi]) & (dpd == 0))
        t, bi, a, dpd = _go_live(t[keep], bi[keep], a[keep], dpd[keep], self.start_ts)
        inst = b["exposure"][bi] * inst_share[bi] / b["nacc"][bi]
        amount = np.where(dpd > 0, np.round(inst * (1 + dpd // 30), 2), 0.0)
        return dict(t=t, b=bi, account=a.astype(np.int8), product=b["prod"][bi, a].astype(np.int8),
                    dpd=dpd.astype(np.int32), amount=amount)

    # -- bureau reports ------------------------------------------------------
    def bureau(self) -> dict[str, np.ndarray]:
        rng, n, b, h, m = self.rngs[4], self.n, self.b, self.h, self.months
        debt0 = b["exposure"] * np.exp(rng.normal(np.log(0.6), 0.8, n))
        walk = np.exp(np.cumsum(rng.normal(0.0, 0.03, (n, m)), axis=1))
        has_g = rng.random(n) < np.where(b["seg"] == 3, 0.1, 0.4)
        g0 = np.where(has_g, b["exposure"] * np.exp(rng.normal(np.log(GUARANTEE_MEDIAN), GUARANTEE_SIGMA, n)), 0.0)
        cover = np.stack([rng.random(n) < 0.97, rng.random(n) < np.where(b["seg"] == 2, 0.6, 0.9)])
        onset, ramp, peak = h["onset"], h["ramp"], h["peak"]
        stressed = np.isfinite(peak) & (peak > 0)
        # external arrears while stress is at or above the borrower's threshold
        ext = h["ext"] & stressed & (h["ext_thr"] < peak)
        t_ext = np.where(ext, onset + (h["ext_thr"] / np.maximum(peak, 1e-9) * ramp).astype(np.int64), NO_TIME)
        t_jump = np.where(h["jump"] & stressed, onset + (h["jump_at"] * ramp).astype(np.int64), NO_TIME)
        t_gjump = np.where(h["gjump"] & stressed, onset + (0.5 * ramp).astype(np.int64), NO_TIME)
        # a legitimate new facility elsewhere: the debt jumps for an unstressed borrower too
        span_years = (self.end_ts - self.start_ts) / YEAR
        legit = rng.random(n) < DEBT_JUMP_ANNUAL * span_years
        t_legit = np.where(legit, self.start_ts + (rng.random(n) * span_years * YEAR).astype(np.int64), NO_TIME)
        legit_x = rng.uniform(1.5, 2.5, n)
        parts = []
        for src, day in enumerate((2, 16)):
            batch = self.ps[:-1] + day * DAY + 2 * HOUR
            t = batch[None, :] + rng.integers(0, 2 * HOUR, (n, m))
            live = cover[src][:, None] & (t > b["t_start"][:, None]) & (t < self.live_end[:, None])
            bi, ki = np.nonzero(live)
            parts.append((t[bi, ki], bi, ki, np.full(len(bi), src)))
        t, bi, ki, src = (np.concatenate(c) for c in zip(*parts))
        s = self.stress(bi, t)
        debt = (debt0[bi] * walk[bi, ki] * (1 + 0.3 * s) * np.where(t >= t_jump[bi], h["jump_x"][bi], 1.0)
                * np.where(t >= t_legit[bi], legit_x[bi], 1.0))
        on = (t >= t_ext[bi]) & (s >= h["ext_thr"][bi])
        dpd = np.where(on, np.minimum((t - t_ext[bi]) // DAY + 1, 999), 0)
        blip = rng.random(len(t)) < BUREAU_BLIP
        dpd = np.where((dpd == 0) & blip, rng.integers(1, 30, len(t)), dpd)
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
        s_mat = np.stack([self.stress(slice(None), np.full(n, self.mid[k])) for k in range(m)], axis=1)
        lam = LAWSUIT_MONTHLY[b["seg"]][:, None] * (1 + 30 * s_mat ** 2)
        cell = np.repeat(np.arange(n * m), rng.poisson(lam).ravel())
        bi, ki = cell // m, cell % m
        tf = _clock(rng, self.ps[ki] + (rng.random(len(bi)) * self.days[ki]).astype(np.int64) * DAY, 9, 18)
        keep = (tf > b["t_start"][bi]) & (tf < self.live_end[bi])
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
        enf = (role == 0) & (rng.random(c) < 0.15 + 0.7 * s)
        t_e = later(t_j, 20, 90)
        dis = enf & (rng.random(c) < 0.03 + 0.6 * s)
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
        live = t < self.live_end[bi[case]]
        table = dict(t=t, b=bi[case], case=case, stage=stage.astype(np.int8),
                     role=role[case].astype(np.int8), ctype=ctype[case].astype(np.int8),
                     claim=claim[case], court=court[case].astype(np.int8))
        return {k: v[live] for k, v in table.items()}, case_ids

    # -- profile updates -------------------------------------------------------
    def profiles(self) -> dict[str, np.ndarray]:
        rng, n, b, h = self.rngs[7], self.n, self.b, self.h
        ts, bs = [b["t_start"]], [np.arange(n)]
        for k in range(6, self.months, 6):
            tu = _clock(rng, self.ps[k] + rng.integers(0, 28, n) * DAY, 9, 17)
            i = np.flatnonzero((rng.random(n) < 0.3) & (tu > b["t_start"] + 60 * DAY) & (tu < self.live_end))
            ts.append(tu[i])
            bs.append(i)
        t, bi = np.concatenate(ts), np.concatenate(bs)
        years = (t - b["t_start"][bi]) / (365 * DAY)
        expo = np.round(b["exposure"][bi] * np.maximum(0.25, 1 - AMORT[b["prod"][bi, 0]] * years), -2)
        # leaving the book: a last profile with nothing outstanding, just after the arrears clear
        gone = np.flatnonzero(h["t_exit"] < self.end_ts)
        t = np.concatenate([t, h["t_exit"][gone] + 60])
        bi = np.concatenate([bi, gone])
        expo = np.concatenate([expo, np.zeros(len(gone))])
        return dict(t=t, b=bi, exposure=expo, grade=self.grade_at(bi, t).astype(np.int8))


def _go_live(t: np.ndarray, b: np.ndarray, a: np.ndarray, dpd: np.ndarray, start: int) -> tuple[np.ndarray, ...]:
    """Drop the burn-in's rows; arrears still open at the start are reported on the first day.

    The carried row comes at the same time of day as the account's last row before the start
    (so counting forward from it agrees with the account's later rows), unless the account's
    next row comes first that day.
    """
    order = np.lexsort((t, a, b))
    t, b, a, dpd = t[order], b[order], a[order], dpd[order]
    same_next = np.append((b[1:] == b[:-1]) & (a[1:] == a[:-1]), False)
    nxt = np.where(same_next, np.append(t[1:], NO_TIME), NO_TIME)
    tc = start + t % DAY
    carry = np.flatnonzero((t < start) & (dpd > 0) & (nxt > tc))
    live_dpd = dpd[carry] + (tc[carry] - t[carry]) // DAY
    keep = t >= start
    return (np.concatenate([t[keep], tc[carry]]), np.concatenate([b[keep], b[carry]]),
            np.concatenate([a[keep], a[carry]]), np.concatenate([dpd[keep], live_dpd]))


def build(n: int, months: int, seed: int, start: str) -> tuple[Portfolio, np.random.Generator]:
    """Generate every feed but the inspections; events at or after the horizon end are dropped.

    Returns the portfolio and the random stream the inspections draw from.
    """
    m = _Model(n, months, seed, start)
    m.borrowers()
    m.health()
    tables = {"rating_change": m.ratings(), "overdue": m.overdue(), "bureau_report": m.bureau()}
    tables["lawsuit"], case_ids = m.lawsuits()
    tables["loan_profile"] = m.profiles()
    for name, tab in tables.items():
        keep = tab["t"] < m.end_ts
        tables[name] = {k: np.ascontiguousarray(v[keep]) for k, v in tab.items()}
    p = Portfolio(n=n, months=months, start_ts=m.start_ts, end_ts=m.end_ts, borrower=m.b, health=m.h,
                  names=m.names, tables=tables, case_ids=case_ids)
    return p, m.rngs[6]
