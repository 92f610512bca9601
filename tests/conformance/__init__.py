"""Conformance tests: the simulator against outside oracles (the upstream kube-proxy corpus)."""
