"""The running bot: services, the driver, the scheduler, metrics, logs, the ops endpoint,
and the permission list doctor checks. Imports bot.slack and below; never handlers/.
"""
