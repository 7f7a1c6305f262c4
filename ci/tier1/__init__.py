"""Tier 1: the GitHub Actions workflows (generated), their GitHub UI output, and local replay with act."""
