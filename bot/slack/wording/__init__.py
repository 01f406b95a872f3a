"""What the bot says in a run's thread: `runs` turns each audit entry into a sentence (the one
place that does), `traffic` words the traffic gates' verdicts and figures, and `phrases` holds
the small words both are made of."""
