"""Hardware-in-the-loop simulator: plant model, register-exact units and their Modbus server."""
