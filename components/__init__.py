"""Pulumi components of academy-workers, one per module."""
