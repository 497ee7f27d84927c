"""The hardened systemd unit template, installed as the `minisplit_systemd` package (read by
`minisplit install`, minisplit/controller/service/install.py)."""
