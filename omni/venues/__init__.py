"""L4 venues: market sources and exchanges behind one async interface."""
