"""What the bot says about fleets: the plan, the fleet card and its thread."""
