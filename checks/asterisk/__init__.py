"""Asterisk call queues: call.routing (who the queues ring, and who is not
there to answer) and queue.kpi (the call center's own quality figures),
from queues.conf and its #includes, the endpoint and dialplan config,
queue_log (read from the end, only the window asked for) and, when
configured, live member state over AMI."""
