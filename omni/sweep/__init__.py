"""``omni sweep``: a parameter search judged only out of sample (nested walk-forward), with the deflated Sharpe
ratio and the probability of backtest overfitting, on a local process pool or a Ray cluster."""
