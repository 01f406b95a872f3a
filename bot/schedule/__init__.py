"""When a cluster may be disturbed: the bot's own change windows and AKS planned maintenance.

Pure domain code (the standard library only), read by the workflow's plans and Slack cards.
"""
