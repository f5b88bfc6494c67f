from frappe import _

app_name = "corpusapp"
app_title = _("Corpus App")

scheduler_events = {
    "all": ["corpusapp.tasks.every_tick"],
    "hourly": ["corpusapp.tasks.sync"],
    "daily": ["corpusapp.tasks.cleanup", "corpusapp.tasks.report"],
    "weekly_long": ["corpusapp.tasks.rebuild"],
    "cron": {"0/15 * * * *": ["corpusapp.tasks.poll"]},
}
