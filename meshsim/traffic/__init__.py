"""Mesh traffic in the simulated clusters, counted as Istio's sidecars count it.

Every meshed workload serves requests at a steady rate (`profile`), seen through the pods that
serve them (`census`: the share of Ready pods on each sidecar revision), with a `bad-proxy`
fault per revision (`faults`); `model` advances cumulative counters with the simulated clock and
`exposition` writes them as Istio's standard metrics, which `server` serves to Prometheus.
"""
