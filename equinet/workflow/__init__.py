"""Several runs: walk-forward cross-validation and the table of runs."""
