"""The bad-input corpus: one table row per user mistake, each run for real."""
