"""network.connectivity: link, address, route, gateway, DNS and the server's ports, seen from a seat."""
