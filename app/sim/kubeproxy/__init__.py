"""kube-proxy, simulated: one renderer per mode turns Services and EndpointSlices into rules.

`state.py` holds the proxier's input (what kube-proxy's service and endpoint trackers hold),
`names.py` the chain-name hashing, and the `iptables*` modules the iptables-mode proxier.
Everything here is standard library only and deterministic.
"""
