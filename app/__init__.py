"""KubeProxy Lab: a teaching web app that shows how a Kubernetes Service load-balances."""
