base = {
    "daily": ["corpusapp.tasks.cleanup"],
    "hourly": ["corpusapp.tasks.sync"],
}

scheduler_events = {
    **base,
    "hourly": ["corpusapp.tasks.sync", "corpusapp.tasks.poll"],
    "monthly_long": ["corpusapp.tasks.rebuild"],
}
