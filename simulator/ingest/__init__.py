"""The ingest side: subscribe, decode, account for every message, batch, and write to a sink."""
