scheduler_events = {
    "daily": ["corpusapp.tasks.cleanup"],
    "all_long": ["corpusapp.tasks.sync"],
    "yearly_long": ["corpusapp.tasks.report"],
    "cron_long": {"0 5 * * 0": ["corpusapp.tasks.rebuild"]},
}
