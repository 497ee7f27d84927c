"""The service around the core: the supervisor, the unit links, MQTT, persistence, install."""
