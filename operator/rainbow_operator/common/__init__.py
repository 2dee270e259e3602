"""Pieces shared by the hub operator and the cluster agent."""
