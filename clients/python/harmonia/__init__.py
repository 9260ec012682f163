"""Seed 000's client package: ``from harmonia.client import get_harmonia_client``.

Only this façade lives under ``harmonia``; the canonical client is ``harmonia_client``.
"""
