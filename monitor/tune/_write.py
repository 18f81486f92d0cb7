"""What ``monitor tune`` writes: the chosen policy (with provenance), the frontier, every candidate, a summary."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import tomlkit

from monitor.tune._run import TuneResult
from monitor.tune._search import METRICS, Candidate
from monitor.tune._space import Space

__all__ = ["FORMAT", "new_version", "policy_text", "render_summary", "summary", "write_outputs"]

FORMAT = "monitor-tune/1"
_SHOWN = ("detection90", "watch_detection90", "precision", "visits", "visits_ratio", "alerts", "flips",
          "watch_share", "severe_share", "late")


def _params(space: Space, c: Candidate) -> dict[str, Any]:
    return {p.path: v for p, v in zip(space.params, c.values)}


def new_version(space: Space, c: Candidate, inputs: dict[str, Any]) -> str:
    """The chosen policy's version: the base's, marked as tuned, with a digest of what made it."""
    base = str(space.base_data.get("version", "policy"))
    digest = hashlib.sha256(json.dumps({"params": _params(space, c), "space": space.sha256, "inputs": inputs},
                                       sort_keys=True, default=str).encode()).hexdigest()[:10]
    tail = f"-tuned-{digest}"
    return base[:64 - len(tail)] + tail


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _figline(figs: dict[str, float | None]) -> str:
    return ", ".join(f"{k} {_fmt(figs.get(k))}" for k in _SHOWN if figs.get(k) is not None)


def policy_text(result: TuneResult) -> str:
    """The chosen policy as TOML: a copy of the base file (its comments kept) with the chosen values and a
    new version, under a header saying where it came from."""
    space, best = result.space, result.best
    if best is None:
        raise ValueError("no feasible candidate: nothing to write")
    doc = tomlkit.parse(space.base_text)
    version = new_version(space, best, result.inputs)
    doc["version"] = version
    changed = []
    for p, v in zip(space.params, best.values):
        node: Any = doc
        for k in p.keys[:-1]:
            node = node[k]
        if node[p.keys[-1]] != v:
            changed.append(f"{p.path}: {p.base!r} -> {v!r}")
        node[p.keys[-1]] = v
    ins = result.inputs
    head = [
        f"# Chosen by `monitor tune` ({FORMAT}): version {version}",
        f"# base policy: {Path(space.base_file).name} (version {space.base_data.get('version')})",
        f"# search space: {Path(space.file).name} sha256 {space.sha256}",
        f"# seed {space.seed}; {len(result.candidates)} candidates in {result.rounds} rounds",
    ]
    for e in ins["events"]:
        head.append(f"# events: {e['file']} sha256 {e['sha256']}")
    head.append(f"# outcomes: {ins['outcomes']['file']} sha256 {ins['outcomes']['sha256']}")
    if ins.get("teams"):
        head.append(f"# teams: {ins['teams']['file']} sha256 {ins['teams']['sha256']}")
    head.append("# constraints: " + ("; ".join(k.text for k in result.constraints) or "none"))
    head.append(f"# figures (tuning portfolio): {_figline(best.figures)}")
    if result.candidates and result.candidates[0].figures:
        head.append(f"# base policy on it: {_figline(result.candidates[0].figures)}")
    if result.holdout is not None:
        h = result.holdout
        head.append("# holdout: " + ", ".join(f"{e['file']} sha256 {e['sha256']}" for e in h["events"]))
        head.append(f"# figures (holdout): {_figline(h['chosen'])}")
        head.append(f"# base policy on the holdout: {_figline(h['base'])}")
    head.append("# changed: " + ("; ".join(changed) if changed else "nothing (the base policy was best)"))
    head.append("#")
    return "\n".join(head) + "\n" + tomlkit.dumps(doc)


def _row(space: Space, c: Candidate) -> dict[str, Any]:
    return {"candidate": c.index, "params": _params(space, c), "feasible": c.feasible, "invalid": c.invalid,
            "failed": c.failed, "figures": c.figures}


def summary(result: TuneResult) -> dict[str, Any]:
    space = result.space
    out: dict[str, Any] = {
        "format": FORMAT,
        "space": {"file": Path(space.file).name, "sha256": space.sha256, "base": Path(space.base_file).name,
                  "base_version": space.base_data.get("version"), "seed": space.seed,
                  "candidates": space.candidates,
                  "params": {p.path: {"base": p.base, "choices": list(p.choices)} for p in space.params}},
        "inputs": result.inputs,
        "constraints": [k.text for k in result.constraints],
        "metrics": {k: d for k, (d, _f) in METRICS.items()},
        "rounds": result.rounds,
        "scored": len(result.candidates),
        "feasible": sum(c.feasible for c in result.candidates),
        "base": _row(space, result.candidates[0]) if result.candidates else None,
        "chosen": _row(space, result.best) if result.best is not None else None,
        "chosen_version": new_version(space, result.best, result.inputs) if result.best is not None else None,
        "frontier": [_row(space, c) for c in result.front],
        "holdout": result.holdout,
    }
    return out


def _csv(result: TuneResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = [p.path for p in result.space.params]
    w.writerow(["candidate", "feasible", *_SHOWN, *names])
    for c in result.front:
        w.writerow([c.index, c.feasible, *("" if c.figures.get(k) is None else c.figures[k] for k in _SHOWN),
                    *c.values])
    return buf.getvalue()


def render_summary(result: TuneResult) -> str:
    """The frontier and the choice, for the terminal."""
    lines = [f"{len(result.candidates)} candidates in {result.rounds} rounds, "
             f"{sum(c.feasible for c in result.candidates)} feasible "
             f"({'; '.join(k.text for k in result.constraints) or 'no constraints'})", "",
             "Pareto frontier: warning+ detected 90+ days before and still flagged, against visits per borrower-year"]
    lines.append(f"{'cand':>5}  {'detect90':>8}  {'visits':>7}  {'x90d':>5}  {'alerts':>6}  {'precision':>9}  ok")
    for c in result.front:
        f = c.figures
        lines.append(f"{c.index:>5}  {_pct(f.get('detection90')):>8}  {_fmt(f.get('visits')):>7}  "
                     f"{_fmt(f.get('visits_ratio')):>5}  {_fmt(f.get('alerts')):>6}  {_pct(f.get('precision')):>9}  "
                     f"{'yes' if c.feasible else 'no: ' + ', '.join(c.failed)}")
    lines.append("")
    if result.best is None:
        lines.append("no candidate meets every constraint: no policy written")
    else:
        lines.append(f"chosen: candidate {result.best.index}: {_figline(result.best.figures)}")
        for p, v in zip(result.space.params, result.best.values):
            mark = "" if v == p.base else f"   (base {p.base!r})"
            lines.append(f"  {p.path} = {v!r}{mark}")
        if result.candidates[0].figures:
            lines.append(f"base policy: {_figline(result.candidates[0].figures)}")
    if result.holdout is not None:
        h = result.holdout
        lines.append(f"holdout chosen: {_figline(h['chosen'])}")
        lines.append(f"holdout base:   {_figline(h['base'])}")
        held = [t for t, ok in h["constraints"].items() if not ok]
        lines.append("holdout constraints: " + ("all hold" if not held else "broken: " + "; ".join(held)))
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f}%"


def write_outputs(result: TuneResult, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "tune.json"
    path.write_text(json.dumps(summary(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                    encoding="utf-8", newline="\n")
    written.append(path)
    path = out / "candidates.jsonl"
    path.write_text("".join(json.dumps(_row(result.space, c), ensure_ascii=False, allow_nan=False) + "\n"
                            for c in result.candidates), encoding="utf-8", newline="\n")
    written.append(path)
    path = out / "frontier.csv"
    path.write_text(_csv(result), encoding="utf-8", newline="")
    written.append(path)
    if result.best is not None:
        path = out / "policy.toml"
        path.write_text(policy_text(result), encoding="utf-8", newline="\n")
        written.append(path)
    return written
