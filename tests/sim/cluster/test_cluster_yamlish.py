"""The YAML subset: PyYAML (a project dependency, used here only as an oracle) must read our
output back to the same data, and must agree with our reader on manifest-style input."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sim.cluster.yamlish import YamlError, dump, load_all

MANIFESTS = [
    """\
apiVersion: apps/v1
kind: Deployment   # a comment
metadata:
  name: web
  labels: {app: web, tier: "fe"}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: nginx
        image: "nginx:1.25"
        args: ["a", 'b c', d]
        command:
          - sh
          - -c
          - |
            echo hi
            echo there
        ports:
        - containerPort: 80
          name: http
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
  - port: 80
    targetPort: http
    nodePort: 30080
  sessionAffinity: ClientIP
  publishNotReadyAddresses: true
  externalIPs: []
  note: 'it''s quoted'
  empty:
  ratio: 0.25
""",
    "a: 1\n---\n---\nb:\n- x\n-\n  - y\n  - z\n",
    '{"kind": "Service", "metadata": {"name": "j"}, "spec": {"ports": [{"port": 80}]}}',
]


@pytest.mark.parametrize("text", MANIFESTS)
def test_reader_agrees_with_pyyaml(text: str) -> None:
    expected = [d for d in yaml.safe_load_all(text) if d is not None]
    assert load_all(text) == expected


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12),
    st.sampled_from(
        ["8080", "true", "no", "", "~", "- x", "a: b", "#x", "2024-01-01T00:00:00Z", "*", "-c"]
    ),
)
keys = st.text(
    st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=6
) | st.sampled_from(["y", "on", "80", "null"])
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=4))
def test_dump_reads_back_identically(data: dict) -> None:
    text = dump(data)
    assert yaml.safe_load(text) == data
    assert load_all(text) == [data]


def test_dump_style_matches_kubectl() -> None:
    text = dump(
        {
            "metadata": {"name": "web", "resourceVersion": "42"},
            "spec": {"ports": [{"port": 80}], "x": {}},
        }
    )
    assert (
        text
        == 'metadata:\n  name: web\n  resourceVersion: "42"\nspec:\n  ports:\n  - port: 80\n  x: '
        "{}\n"
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: b: c\n", 1), ("a:\n  - x\n  y: 1\n", 3), ("x: [1, 2\n", 1), ('k: "open\n', 1)],
)
def test_malformed_input_raises_yaml_error_with_line(text: str, line: int) -> None:
    with pytest.raises(YamlError) as err:
        load_all(text)
    assert err.value.line == line
    with pytest.raises(yaml.YAMLError):
        list(yaml.safe_load_all(text))


def test_duplicate_keys_are_refused_like_go_yaml() -> None:
    # PyYAML keeps the last value; the Go reader kubectl uses refuses the document
    with pytest.raises(YamlError, match='mapping key "a" already defined'):
        load_all("a: 1\na: 2\n")
