"""Answerers, one per mode: `extractive` (default, no LLM) and LLM modes configured by the user."""
