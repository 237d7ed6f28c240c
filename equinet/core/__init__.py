"""The rules everything stands on: labels, trading days, the exchange's boards, files, locks, findings, metrics."""
