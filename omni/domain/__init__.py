"""L0 domain types: frozen values and enums, stdlib only, no I/O."""
