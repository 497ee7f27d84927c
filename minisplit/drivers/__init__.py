"""Modbus transport, bus scheduling, register maps, and the head and outdoor-unit drivers."""
