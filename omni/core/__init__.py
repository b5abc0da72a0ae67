"""L2 decision core: pure synchronous functions and small state machines on domain types."""
