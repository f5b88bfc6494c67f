scheduler_events = {
    "Hourly": ["corpusapp.tasks.sync"],
    "Daily_Long": ["corpusapp.tasks.rebuild"],
    "WEEKLY": ["corpusapp.tasks.report"],
    "Cron": {"0 4 * * *": ["corpusapp.tasks.cleanup"]},
}
