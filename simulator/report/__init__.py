"""Reports of a run: the JSON contract and the human summary."""
