"""Sources to store: the readers, validation, corporate actions, the market series, the aligned store, ingest."""
