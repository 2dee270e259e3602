"""The ``rainbow`` command line: run a server, manage clusters, submit and follow jobs."""
