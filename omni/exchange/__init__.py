"""L1 exchange model: Bybit linear-perp rules as pure synchronous code, shared by every venue."""
