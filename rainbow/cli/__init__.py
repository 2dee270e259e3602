"""The ``rainbow`` command line: run a server, manage clusters, submit and follow jobs."""

import os

# gRPC's C++ core logs to stderr on its own (a busy port, for one), repeating unformatted what the
# command's error says; it reads this once, when grpc is first imported. GRPC_VERBOSITY=debug
# (or any level) set by the user still wins.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
