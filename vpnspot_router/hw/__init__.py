"""Board and crypto-engine probe: reads the router's files into a core Profile.

probe.py does the reading (files under a root, module and AF_ALG checks),
boards.py matches the result against hardware/boards.json. The parsing is
in core/hwprobe.py so that it runs under MicroPython too.
"""
