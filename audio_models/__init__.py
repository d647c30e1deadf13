"""Lung-sound I/O, quality gate, features and the crackle model."""
