"""IPVS (IP Virtual Server), as the kernel does it: virtual services and real servers in
kernel list order, the schedulers (`SCHEDULERS`), the connection table with persistence
templates, the director's per-packet decision, and `ipvsadm` text and commands."""
