"""Fleets, as pure rules: rings of clusters upgraded in order, and what each cluster of a fleet
can do with the fleet's target revision."""
