"""Charts for the run's thread, as PNG bytes with alt text: the sidecar census (census.py) and
a traffic verdict's before and after (traffic.py). Import the modules, not this package: they
load matplotlib, which the bot loads at its first chart, not at start."""
