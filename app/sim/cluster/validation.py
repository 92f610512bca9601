"""Object-name validation with the API server's messages (apimachinery validation.IsDNS1123*).

Services need a DNS-1035 label (their name becomes a DNS label that must start with a letter);
namespaces a DNS-1123 label; Deployments, ReplicaSets and Pods a DNS-1123 subdomain.
"""

from __future__ import annotations

import re

from app.sim.cluster.errors import Invalid

DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = rf"{DNS1123_LABEL}(\.{DNS1123_LABEL})*"

_MESSAGES = {
    "dns1035": (
        DNS1035_LABEL,
        63,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
        "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
        "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    ),
    "dns1123label": (
        DNS1123_LABEL,
        63,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ),
    "dns1123subdomain": (
        DNS1123_SUBDOMAIN,
        253,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ),
}
RULE_OF = {"Service": "dns1035", "Namespace": "dns1123label"}


def validate_name(kind: str, name: str) -> None:
    """Raise Invalid (`metadata.name: ...`) unless `name` is legal for `kind`."""
    if not name:
        raise Invalid(
            kind, name, ["metadata.name: Required value: name or generateName is required"]
        )
    pattern, limit, message = _MESSAGES[RULE_OF.get(kind, "dns1123subdomain")]
    causes = []
    if len(name) > limit:
        causes.append(
            f'metadata.name: Invalid value: "{name}": must be no more than {limit} characters'
        )
    if not re.fullmatch(pattern, name):
        causes.append(f'metadata.name: Invalid value: "{name}": {message}')
    if causes:
        raise Invalid(kind, name, causes)
