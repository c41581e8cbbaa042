"""gateway.power: the FXO/VoIP gateway ladder (ARP, ICMP, SIP OPTIONS, HTTP).

``check.py`` is the check; ``arp.py`` and ``sip.py`` are the two protocol rungs
that need more than a socket call.
"""
