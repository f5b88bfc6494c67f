DAILY = ["corpusapp.tasks.cleanup", "corpusapp.tasks.report"]
NIGHTLY = "0 2 * * *"

scheduler_events = {
    "daily": DAILY,
    "cron": {NIGHTLY: ["corpusapp.tasks.rebuild"]},
}
