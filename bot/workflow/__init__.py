"""Advancing a run one idempotent step at a time (minor and patch flows, checks) through
two seams, the mesh (ARM) and the cluster (Kubernetes). Imports bot.upgrade, bot.config and
bot.store; never an SDK (the adapters are handed in).
"""
