"""Intake: what sources hand in becomes records, validated (payloads) and committed
by one writer thread before any message is acknowledged (writer)."""
