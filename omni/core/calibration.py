"""How well the pre-trade simulator's win probability matched what happened: Brier score and a
reliability table (predicted vs realised win rate by decile of predicted probability)."""

from __future__ import annotations


def calibration(pairs: list[tuple[float, bool]]) -> dict[str, object]:
    """``pairs``: (predicted win probability, realised win) for every taken trade that closed."""
    n = len(pairs)
    if n == 0:
        return {"n": 0, "brier": None, "reliability": []}
    brier = sum((p - (1.0 if win else 0.0)) ** 2 for p, win in pairs) / n
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(10)]
    for p, win in pairs:
        bins[min(int(p * 10), 9)].append((p, win))
    table = []
    for i, b in enumerate(bins):
        if not b:
            continue
        table.append(
            {
                "bin": f"{i / 10:.1f}-{(i + 1) / 10:.1f}",
                "n": len(b),
                "mean_predicted": round(sum(p for p, _ in b) / len(b), 4),
                "realised_win_rate": round(sum(1 for _, w in b if w) / len(b), 4),
            }
        )
    return {"n": n, "brier": round(brier, 6), "reliability": table}
