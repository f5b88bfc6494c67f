scheduler_events = {"daily": ["corpusapp.tasks.cleanup"]}

scheduler_events.update({
    "hourly": ["corpusapp.tasks.sync"],
    "cron": {"*/10 * * * *": ["corpusapp.tasks.poll"]},
})
