"""The simulated kube-controller-manager and kubelet.

`Controllers` turns store events into work keys `(controller, namespace, name)` and runs one
idempotent `sync` per key. `meshsim.kube.controllers.runner` drives it: on the SimLoop with
sim-clock delays (`AsyncRunner`), or synchronously to a fixed point with pods Ready at once
(`settle`), which scenarios use to build clusters quickly with the same code paths.
"""
