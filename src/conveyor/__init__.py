"""Conveyor: a self-hostable distributed task processing service."""

__version__ = "0.1.0"
