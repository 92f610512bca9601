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


GROUP_KINDS = {"Deployment": "Deployment.apps", "ReplicaSet": "ReplicaSet.apps"}


class ClusterError(Exception):
    """A refusal; `message` is exactly what kubectl prints when it reports the error itself.

    `status` is the API server's own status message, which kubectl embeds when it wraps the
    error (`error: failed to create deployment: deployments.apps "web" already exists`).
    """

    def __init__(self, message: str, status: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status or message


class NotFound(ClusterError):
    def __init__(self, kind: str, name: str) -> None:
        status = f'{RESOURCE_NAMES[kind]} "{name}" not found'
        super().__init__(f"Error from server (NotFound): {status}", status)
        self.kind = kind
        self.name = name


class AlreadyExists(ClusterError):
    def __init__(self, kind: str, name: str) -> None:
        status = f'{RESOURCE_NAMES[kind]} "{name}" already exists'
        super().__init__(f"Error from server (AlreadyExists): {status}", status)


class Invalid(ClusterError):
    """A validation failure: one or more `field: Reason: detail` causes."""

    def __init__(self, kind: str, name: str, causes: list[str]) -> None:
        detail = causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"
        status = f'{GROUP_KINDS.get(kind, kind)} "{name}" is invalid: {detail}'
        super().__init__(f'The {kind} "{name}" is invalid: {detail}', status)
        self.causes = causes


def wrapped(prefix: str, err: ClusterError) -> ClusterError:
    """kubectl's `fmt.Errorf("<prefix>: %v", err)`: `error: <prefix>: <status message>`."""
    return ClusterError(f"error: {prefix}: {err.status}")
