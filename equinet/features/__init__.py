"""The store as model inputs: per-day input series, splits by date, and the device sampler."""
