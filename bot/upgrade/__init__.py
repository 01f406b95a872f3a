"""The upgrade's pure domain: phases and the table of legal moves, runs and their
records, approvals and their policy, plans and gates, and the facts observed from ARM and
Kubernetes as plain value types. Imports the standard library only.
"""
