"""The hardened systemd unit template, installed as the `minisplit_systemd` package (read by
`minisplit install`, controller/install.py)."""
