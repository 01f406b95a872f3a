"""The composition root: `mesh-upgrade-bot` and its subcommands, which wire the layers
(and handlers/) together. Imports what each command runs, lazily, so a command loads only
what it needs; `sandbox` alone imports meshsim.
"""
