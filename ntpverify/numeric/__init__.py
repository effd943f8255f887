"""Numeric producers (untrusted): gradient descent, the norm-ball path, and the claims they test."""
