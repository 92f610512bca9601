"""A model of Linux netfilter as iptables(8) shows it: tables, chains, rules, traversal."""
