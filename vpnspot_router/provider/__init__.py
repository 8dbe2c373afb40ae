"""The VPN Spot service as the router sees it: the API document (openapi.yaml),
the stdlib HTTPS transport (transport.py) and the client (client.py)."""
