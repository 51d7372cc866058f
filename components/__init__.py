"""Pulumi components of github-automation: one ComponentResource per concern."""
