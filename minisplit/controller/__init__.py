"""The minisplit supervisor: control logic, MQTT bridge, persistence and command line."""
