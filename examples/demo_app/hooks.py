"""Scheduled events of the demo app, in Frappe's format."""

app_name = "demo_app"

scheduler_events = {
    "cron": {
        "* * * * *": ["demo_app.jobs.tick"],
    },
    "hourly": ["demo_app.jobs.tick"],
}
