"""Tier 1: the GitHub Actions workflows.

Generated from discovery (:mod:`ci.tier1.generate`), reported to the GitHub UI
(:mod:`ci.tier1.github`), and replayable on a laptop with act (:mod:`ci.tier1.act`).
"""
