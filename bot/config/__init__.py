"""The bot's configuration (one YAML file, read once into frozen pydantic models), its
secrets from the environment, and who this replica is. Imports bot.upgrade.
"""
