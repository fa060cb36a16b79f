"""Question answering over Japanese council and committee minutes, citing the exact meeting and speaker."""

__version__ = "0.1.0"
