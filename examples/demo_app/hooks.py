"""Scheduled events of the demo app, in Frappe's format."""

app_name = "demo_app"

scheduler_events = {
    # every `scheduler_interval` seconds: 240 by default, 10 on the demo bench (scripts/demo.sh sets it)
    "all": ["demo_app.jobs.tick"],
    "cron": {
        "* * * * *": ["demo_app.jobs.tick"],
    },
    "hourly": ["demo_app.jobs.tick"],
}
