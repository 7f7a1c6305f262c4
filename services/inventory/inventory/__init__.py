"""inventory: stock levels and reservations behind a small JSON HTTP API.

The service owns two tables (``items``, ``reservations``) and guarantees one
thing worth testing against a real database: however many clients reserve at
once, available stock never goes below zero.
"""
