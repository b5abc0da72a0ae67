"""What a sweep says, from its completed trials: the out-of-sample chain of the nested walk-forward (the only
honest estimate of the search), the deflated Sharpe ratio of the in-sample winner for the effective number of
trials, and the probability of backtest overfitting (CSCV) over the trials' hourly returns.

Files in the sweep's directory: ``report.md`` (for a person), ``sweep.json`` (everything, for machines),
``trials.csv`` (one row per trial: values, net per fold), ``returns.csv`` (the T x N matrix of hourly net returns,
over each fold's capital at start, folds in time order) and ``chosen.yaml`` (the in-sample winner's config, the
out-of-sample figures in its header; the user's config is never touched).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from omni.config import Config
from omni.core.overfit import deflated_sharpe, pbo_cscv, sharpe
from omni.core.walk_forward import walk_forward_chain
from omni.sweep.folds import Fold
from omni.sweep.space import config_with

HOUR_MS = 3_600_000


def matrices(trials: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(N x K fold nets in USDT, T x N hourly returns with folds in time order)."""
    scores = np.array([[f["net"] for f in t["folds"]] for t in trials], dtype=float)
    returns = np.array([[h for f in t["folds"] for h in f["hourly"]] for t in trials], dtype=float).T
    return scores, returns


def analyse(trials: list[dict[str, Any]], folds: list[Fold], n_asked: int) -> dict[str, Any]:
    """The figures of the report; needs >= 2 complete trials and >= 2 folds."""
    scores, returns = matrices(trials)
    chain = walk_forward_chain(scores)
    best = int(np.argmax(scores.sum(axis=1)))
    dsr = deflated_sharpe(returns, best)
    pbo = pbo_cscv(returns, blocks=min(16, max(2, (returns.shape[0] // 2) * 2)))
    steps = []
    for s in chain.steps:
        steps.append({**s.to_dict(), "trial": trials[s.trial]["index"], "values": trials[s.trial]["values"]})
    return {
        "trials": {"asked": n_asked, "complete": len(trials)},
        "folds": [f.to_dict() for f in folds],
        "chain": {**chain.to_dict(), "steps": steps},
        "best_in_sample": {
            "trial": trials[best]["index"],
            "values": trials[best]["values"],
            "net_per_fold": scores[best].tolist(),
            "net": float(scores[best].sum()),
            "sharpe_hourly": sharpe(returns[:, best]),
        },
        "dsr": dsr.to_dict(),
        "pbo": pbo.to_dict(),
        "median_trial_net": float(np.median(scores.sum(axis=1))),
    }


def _usdt(x: float) -> str:
    return f"{x:+.2f} USDT"


def markdown(a: dict[str, Any], meta: dict[str, Any]) -> str:
    chain, best, dsr, pbo = a["chain"], a["best_in_sample"], a["dsr"], a["pbo"]
    k = len(a["folds"])
    verdict = ("**no evidence of an edge**" if chain["total"] <= 0 else
               "positive out of sample, but read the DSR and PBO below before trusting it")  # fmt: skip
    lines = [
        "# OMNI sweep",
        "",
        f"{a['trials']['complete']} of {a['trials']['asked']} trials complete, sampler `{meta['sampler']}`, "
        f"{k} walk-forward folds, data: {', '.join(Path(p).name for p in meta['data'])}.",
        "",
        "## Out of sample: the nested walk-forward (the figure to judge the search by)",
        "",
        f"For each fold k from 2 to {k}, the trial with the best net PnL on the folds before k is chosen and scored on "
        "fold k, which it never saw. The sum of those scores is what this search would have earned had it been run "
        f"before each fold: **{_usdt(chain['total'])}** over {k - 1} folds ({verdict}); a typical (median) trial "
        f"earned {_usdt(chain['median_total'])} on the same folds.",
        "",
        "| fold | chosen trial | in-sample net (folds before) | out-of-sample net | its rank on the fold (1 = best) |"
        " fold median |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for s in chain["steps"]:
        lines.append(f"| {s['fold'] + 1} | {s['trial']} | {_usdt(s['is_score'])} | {_usdt(s['oos_score'])} | "
                     f"{s['oos_rank']:.2f} | {_usdt(s['oos_median'])} |")  # fmt: skip
    lines += [
        "",
        "## In sample: the overall best trial (picked after seeing every fold)",
        "",
        f"Trial {best['trial']} has the best net over all folds, {_usdt(best['net'])} "
        f"({', '.join(_usdt(x) for x in best['net_per_fold'])}). Picking it *after* seeing all folds is in-sample: "
        "its figure overstates what it will do next. It is written to `chosen.yaml` with the out-of-sample chain "
        "above as the honest estimate.",
        "",
        f"Values: `{json.dumps(best['values'])}`",
        "",
        "## Deflated Sharpe ratio (is the winner's Sharpe more than the luck of many trials?)",
        "",
        f"Hourly Sharpe of the winner {dsr['sr_best']:.4f} over {dsr['t']} hours; the Sharpe the best of "
        f"{dsr['n_eff']:.1f} effectively independent trials would reach by luck alone (from {dsr['n']} trials, "
        f"effective count from their correlations) is {dsr['sr0']:.4f}. **DSR = {dsr['dsr']:.3f}**: the probability "
        "that the winner's true Sharpe is above that luck level. Below 0.95: do not trust the winner.",
        "",
        "## Probability of backtest overfitting (CSCV)",
        "",
        f"The {pbo['t']} hours are cut into {pbo['s']} blocks; for each of the {pbo['combinations']} ways to pick half "
        "of them as in-sample, the best in-sample trial is ranked among all trials on the other half. "
        f"**PBO = {pbo['pbo']:.2f}**: the share of splits where the in-sample winner lands at or below the "
        "median out of sample. 0.5 is what noise gives; trust a search only well below it (about 0.2 or less). "
        f"Probability that the winner loses out of sample: {pbo['prob_oos_loss']:.2f}.",
        "",
        "## How to read this",
        "",
        "- The out-of-sample chain is the only figure not chosen with hindsight. The in-sample best, the DSR and PBO "
        "describe the search as a whole.",
        "- TPE samples near good trials, so trials are correlated: the effective number of trials (above) is "
        "smaller than the count, which the DSR uses.",
        "- Every trial is the real backtest (same engine, fees, funding, liquidation); each fold starts with the "
        "configured capital, and positions still open at a fold's end are closed there.",
        "",
    ]
    return "\n".join(lines)


def chosen_yaml(base: Config, values: dict[str, Any], a: dict[str, Any]) -> str:
    cfg = config_with(base, values)
    doc = cfg.model_dump(mode="json")
    doc["market"].pop("replay_from", None)
    doc["market"].pop("replay_to", None)
    chain, dsr, pbo = a["chain"], a["dsr"], a["pbo"]
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = [
        f"# Written by omni sweep at {when}: trial {a['best_in_sample']['trial']}, the best over all folds.",
        "# That choice is IN-SAMPLE. Out of sample (nested walk-forward, each fold scored by the trial chosen on the",
        f"# folds before it): {chain['total']:+.2f} USDT over {len(chain['steps'])} folds (median trial "
        f"{chain['median_total']:+.2f}).",
        f"# Deflated Sharpe ratio {dsr['dsr']:.3f} (n_eff {dsr['n_eff']:.1f}); probability of backtest overfitting "
        f"{pbo['pbo']:.2f}.",
        f"# Swept values: {json.dumps(values)}",
        "",
    ]
    return "\n".join(header) + yaml.safe_dump(doc, sort_keys=False)


def write(out: Path, trials: list[dict[str, Any]], folds: list[Fold], n_asked: int, meta: dict[str, Any],
          base: Config, failures: list[dict[str, Any]]) -> dict[str, Any] | None:  # fmt: skip
    """Write the report files; None (nothing written) with fewer than 2 complete trials."""
    if len(trials) < 2:
        return None
    a = analyse(trials, folds, n_asked)
    a["failures"] = failures
    (out / "sweep.json").write_text(json.dumps({"meta": meta, **a}, indent=1, default=str) + "\n")
    (out / "report.md").write_text(markdown(a, meta))
    keys = [k for k in trials[0]["values"]]
    with (out / "trials.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["trial", *keys, *(f"net_fold{i + 1}" for i in range(len(folds))), "net", "seconds"])
        for t in trials:
            nets = [x["net"] for x in t["folds"]]
            w.writerow([t["index"], *(json.dumps(t["values"][k]) for k in keys), *nets, sum(nets), t["seconds"]])
    hours = [f.trade_from + h * HOUR_MS for f in folds for h in range(f.hours)]
    _, returns = matrices(trials)
    with (out / "returns.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["hour_utc", *(f"trial{t['index']}" for t in trials)])
        for ts, row in zip(hours, returns, strict=True):
            w.writerow([datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:00Z"), *(f"{x:.8g}" for x in row)])
    best = next(t for t in trials if t["index"] == a["best_in_sample"]["trial"])
    (out / "chosen.yaml").write_text(chosen_yaml(base, best["values"], a))
    return a
