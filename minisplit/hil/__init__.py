"""Hardware-in-the-loop: plant model, register-exact units and their Modbus server, the benchmark
and the demo."""
