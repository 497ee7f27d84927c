"""minisplit: controller firmware for multi-zone ductless mini-split heat pumps.

`minisplit.drivers` talks to the units, `minisplit.controller` controls them (its pure `core`
and the `service` around it), `minisplit.hil` simulates them (docs/architecture.md)."""
