"""Seed 004's client package: ``from synthesis.client import SynthesisClient``."""
