"""The embedded local AWS that `make run` and the end-to-end tests stand on."""
