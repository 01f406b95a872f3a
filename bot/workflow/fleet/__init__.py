"""Fleet runs in the workflow: the plan, driving ring by ring, and what people do."""
