"""Usage history: each server's sampled usage over time, downsampled with retention (tiers.py)."""
