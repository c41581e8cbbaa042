"""config.drift: what changed since the acceptance baseline, when, and who changed it."""
