"""The rules everything stands on: labels, trading days, the exchange's boards and limits, files, locks, findings, metrics."""
