base_daily = ["corpusapp.tasks.cleanup"]

scheduler_events = {
    "daily": base_daily + ["corpusapp.tasks.report"],
    "hourly": ["corpusapp.tasks.sync"] + [],
    "cron": {"0 3 * * *": ["corpusapp.tasks." + "rebuild"]},
}
