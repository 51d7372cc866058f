"""Helpers every function shares: settings, message models, the two-architecture adapter."""
