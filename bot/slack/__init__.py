"""Everything the bot says in Slack and how it reads what people type: Block Kit
builders, the card, thread reports, the command parser, the notifier, the Web API client and
the Bolt app's server. With handlers/, the only importer of slack_sdk and slack_bolt. Imports
bot.workflow and below.
"""
