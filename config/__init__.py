"""Shipped configs and device profiles, installed as the `minisplit_data` package."""
