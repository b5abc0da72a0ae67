"""L5 engine: the asyncio shell (tasks, signals, timers) around the synchronous core."""
