"""Example controllers for `minisplit bench --controller module:attr` (docs/benchmark.md)."""
