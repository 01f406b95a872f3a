"""The Kubernetes adapter: tags, namespaces, restart waves, census, control plane, HPAs,
health, the leader Lease. The only package that imports kubernetes; imports bot.upgrade and
bot.config.
"""
