"""How well the pre-trade simulator's forecasts matched what happened, over *every* forecast it made.

Each row is one forecast with the outcome its exact order had (``omni.core.outcomes``: taken or not, the same
exit rule as a live position) and, for taken trades, the realised outcome from the ledger. The report
(statistics.md): Brier score, the reference Brier of the sample's own base rate, the Brier skill score with a
90 % block-bootstrap interval (whole UTC days resampled), Murphy's reliability / resolution / uncertainty, log
loss, a reliability table by decile with Wilson 95 % intervals, and the EV forecast versus the realised net by
decile of the EV lower bound; over all forecasts, over the taken trades, and per walk-forward fold (the folds of
the recalibration). Both the raw and the recalibrated win probability are scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omni.core.scoring import ev_table, score

DAY_MS = 86_400_000


def calibration(pairs: list[tuple[float, bool]]) -> dict[str, object]:
    """``pairs``: (predicted win probability, realised win) for every taken trade that closed (the short form
    kept in the run summary)."""
    if not pairs:
        return {"n": 0, "brier": None, "reliability": []}
    s = score([p for p, _ in pairs], [w for _, w in pairs])
    return {"n": s["n"], "brier": round(s["brier"], 6), "bss": s["bss"], "reliability": s["reliability"]}


def _block(rows: Sequence[dict[str, Any]], key: str, outcome: str, seed: int) -> dict[str, Any]:
    usable = [r for r in rows if r.get(outcome) is not None]
    return score([r[key] for r in usable], [bool(r[outcome]) for r in usable], [r["ts"] // DAY_MS for r in usable],
                 seed=seed)  # fmt: skip


def forecast_report(rows: Sequence[dict[str, Any]], fold_ms: int, seed: int = 0) -> dict[str, Any]:
    """``rows``: dicts with ts, p, p_cal, win, net, ev_lower, taken and (taken, closed) realised_win/realised_net.
    Folds are ``fold_ms`` of market time from the first forecast."""
    rows = sorted(rows, key=lambda r: r["ts"])
    if not rows:
        return {"n": 0, "all": score([], []), "taken": score([], []), "folds": [], "ev": [], "ev_taken": []}
    origin = rows[0]["ts"]
    taken = [r for r in rows if r["taken"]]
    folds: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        folds.setdefault((r["ts"] - origin) // fold_ms, []).append(r)
    per_fold = []
    for k, fr in sorted(folds.items()):
        a = _block(fr, "p", "win", seed)
        t = _block([r for r in fr if r["taken"]], "p", "realised_win", seed)
        per_fold.append(
            {
                "fold": k,
                "start_ts": origin + k * fold_ms,
                "all": a,  # everything score() gives: Murphy, log loss, reliability by decile too
                "calibrated_bss": _block(fr, "p_cal", "win", seed).get("bss"),
                "taken": t,
                "ev": ev_table([r["ev_lower"] for r in fr], [r["net"] for r in fr]),
            }
        )
    realised = [r for r in taken if r.get("realised_net") is not None]
    return {
        "n": len(rows),
        "fold_days": fold_ms / DAY_MS,
        "all": _block(rows, "p", "win", seed),
        "all_calibrated": _block(rows, "p_cal", "win", seed),
        "taken": _block(taken, "p", "realised_win", seed),
        "taken_counterfactual": _block(taken, "p", "win", seed),
        "folds": per_fold,
        "ev": ev_table([r["ev_lower"] for r in rows], [r["net"] for r in rows]),
        "ev_taken": ev_table([r["ev_lower"] for r in realised], [r["realised_net"] for r in realised]),
    }


def _f(x: Any, digits: int = 4) -> str:
    if x is None:
        return "—"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_f(v, digits) for v in x) + "]"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _reliability(s: dict[str, Any]) -> list[str]:
    return [
        f"| {r['bin']}{' (small)' if r['small'] else ''} | {r['n']} | {r['mean_forecast']:.3f} | "
        f"{r['realised_rate']:.3f} | [{r['wilson_low']:.3f}, {r['wilson_high']:.3f}] | "
        f"{'yes' if r['contains'] else 'NO'} |"
        for r in s.get("reliability") or []
    ]


def forecast_markdown(rep: dict[str, Any]) -> list[str]:
    """The report's forecast section (Markdown lines)."""
    if not rep.get("n"):
        return ["## Forecasts", "", "No forecast was resolved in this run.", ""]
    a, t = rep["all"], rep["taken"]
    lines = [
        "## Forecasts: every forecast the simulator made, scored on the outcome its order had",
        "",
        f"{rep['n']} forecasts (taken or not; outcomes of untaken ones are counterfactual, from later bars with the "
        f"exchange's intrabar rule), {t['n']} taken trades with a realised outcome; folds of "
        f"{rep['fold_days']:g} days.",
        "",
        "| sample | n | base rate | Brier | Brier ref | BSS | BSS 90 % (days) | reliability | resolution | log loss |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, s in (("all (raw p)", a), ("all (recalibrated p)", rep["all_calibrated"]), ("taken (realised)", t)):
        m = s.get("murphy") or {}
        lines.append(
            f"| {name} | {s['n']} | {_f(s.get('base_rate'))} | {_f(s.get('brier'))} | {_f(s.get('brier_ref'))} | "
            f"{_f(s.get('bss'))} | {_f(s.get('bss_interval_90'))} | {_f(m.get('reliability'))} | "
            f"{_f(m.get('resolution'))} | {_f(s.get('log_loss'))} |"
        )
    lines += [
        "",
        "BSS > 0: better than always forecasting the sample's own base rate; BSS <= 0: the forecasts add nothing.",
        "",
        "Reliability (all forecasts, raw p): a bin is calibrated when the Wilson 95 % interval of its realised "
        "rate contains its mean forecast; bins with n < 30 are marked small.",
        "",
        "| p bin | n | mean forecast | realised | Wilson 95 % | contains |",
        "|---|---:|---:|---:|---|---|",
    ]
    lines += _reliability(a)
    lines += [
        "",
        "Reliability (all forecasts, recalibrated p; raw p where no map was on):",
        "",
        "| p bin | n | mean forecast | realised | Wilson 95 % | contains |",
        "|---|---:|---:|---:|---|---|",
    ]
    lines += _reliability(rep["all_calibrated"])
    lines += [
        "",
        "EV lower bound vs realised net (USDT per trade), by decile of the bound (all forecasts, counterfactual):",
        "",
        "| n | mean bound | realised mean | at or above |",
        "|---:|---:|---:|---|",
    ]
    for r in rep["ev"]:
        lines.append(
            f"| {r['n']} | {r['mean_bound']:.4f} | {r['mean_realised']:.4f} | "
            f"{'yes' if r['realised_at_or_above'] else 'NO'} |"
        )
    lines += [
        "",
        "Per walk-forward fold (all forecasts; BSS against the fold's own base rate):",
        "",
        "| fold | n | base rate | Brier | Brier ref | BSS | BSS 90 % | BSS recalibrated | taken n | taken BSS |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for f in rep["folds"]:
        x, tk = f["all"], f["taken"]
        lines.append(
            f"| {f['fold']} | {x['n']} | {_f(x['base_rate'])} | {_f(x['brier'])} | {_f(x['brier_ref'])} | "
            f"{_f(x['bss'])} | {_f(x['bss_interval_90'])} | {_f(f['calibrated_bss'])} | {tk['n']} | {_f(tk['bss'])} |"
        )
    return [*lines, ""]
