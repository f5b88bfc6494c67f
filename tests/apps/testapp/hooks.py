app_name = "testapp"

scheduler_events = {
    "cron": {
        "*/5 * * * *": ["testapp.jobs.noop"],
    },
    "daily": ["testapp.jobs.noop"],
}
