"""nftables: the model, its parser and listing, and the packet evaluator (kube-proxy subset)."""
