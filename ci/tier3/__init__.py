"""Tier 3: one service's run, stage by stage (up, wait, migrate, test, collect, down)."""
