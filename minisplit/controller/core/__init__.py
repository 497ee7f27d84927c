"""The pure control core: no I/O, no clock, no service (docs/architecture.md, 'Pure core')."""
