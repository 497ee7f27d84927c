"""The controller: the pure control core (`core/`), the service around it (`service/`), and on
top the command line (`cli`), the config (`config`), its mapping onto the core (`tuning`) and
the MQTT topic names (`topics`)."""
