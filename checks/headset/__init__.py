"""headset.presence: the agent's USB headset; ``vendors.py`` is the table of headset makers."""
