"""A trained run applied: loading it on a store, and the evening's forecast."""
