"""API-server style errors, worded the way kubectl prints them.

kubectl prints a `StatusReasonInvalid` status as its bare message (`The Service "x" is invalid:
...`) and every other failure as `Error from server (<Reason>): <message>` (see
`k8s.io/kubectl/pkg/cmd/util/helpers.go`, `StandardErrorMessage`).
"""

from __future__ import annotations

# Group-qualified plural names, as the API server spells them in NotFound/AlreadyExists messages.
RESOURCE_NAMES = {
    "Pod": "pods",
    "Service": "services",
    "Deployment": "deployments.apps",
    "ReplicaSet": "replicasets.apps",
    "Node": "nodes",
    "Endpoints": "endpoints",
    "EndpointSlice": "endpointslices.discovery.k8s.io",
    "Namespace": "namespaces",
    "Event": "events",
}


class ClusterError(Exception):
    """A refusal by the simulated API server; `str()` is exactly what kubectl prints."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ClusterError):
    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f'Error from server (NotFound): {RESOURCE_NAMES[kind]} "{name}" not found')
        self.kind = kind
        self.name = name


class AlreadyExists(ClusterError):
    def __init__(self, kind: str, name: str) -> None:
        text = f'Error from server (AlreadyExists): {RESOURCE_NAMES[kind]} "{name}" already exists'
        super().__init__(text)


class Invalid(ClusterError):
    """A validation failure: one or more `field: Reason: detail` causes."""

    def __init__(self, kind: str, name: str, causes: list[str]) -> None:
        detail = causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"
        super().__init__(f'The {kind} "{name}" is invalid: {detail}')
        self.causes = causes


class BadRequest(ClusterError):
    def __init__(self, message: str) -> None:
        super().__init__(f"Error from server (BadRequest): {message}")
