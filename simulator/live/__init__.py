"""Watching a run while it goes: the terminal view and the web dashboard."""
