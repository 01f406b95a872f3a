"""Traffic gates, as pure rules: the mesh's golden signals per workload, the thresholds a
cluster sets, and the verdict of a comparison. No I/O; figures come from `bot.prom`."""
