"""Judging forecasts: the rows a forecast was scored on (evaluate, scored), every metric and the one registry
(metrics, scoring), and whether the picks would have made money (backtest, tearsheet)."""
