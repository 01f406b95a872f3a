"""The traffic gates' metrics source: Prometheus' HTTP query API (Prometheus itself, or an
Azure Monitor workspace with the bot's Entra ID token), read into bot.traffic's Signals.
Only urllib3 and orjson here: the Entra ID token comes in as a function."""
