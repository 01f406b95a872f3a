"""A simulated Azure Monitor workspace's Prometheus query endpoint (meshsim/azmon/front.py)."""
