"""The whole site at once: the seat agent that publishes its reports over MQTT,
and the site report that joins every seat's report into one.
"""
