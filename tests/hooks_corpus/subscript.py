import frappe

scheduler_events = {
    "cron": {"0 1 * * *": ["corpusapp.tasks.cleanup"]},
    "daily": [],
}
scheduler_events["cron"]["30 2 * * *"] = ["corpusapp.tasks.report"]
scheduler_events["daily"].append("corpusapp.tasks.sync")
scheduler_events["hourly_long"] = ["corpusapp.tasks.rebuild"]
