"""Like a real Frappe app's hooks.py: importing it fails, the scheduler reads the literal instead."""
import frappe  # noqa: F401  (not installed on purpose)

app_name = "otherapp"

scheduler_events: dict = {
    "hourly_long": ["otherapp.tasks.rebuild_index"],
    "cron": {
        "15 3 * * *": ["otherapp.tasks.nightly_report"],
        "99 * * * *": ["otherapp.tasks.nightly_report"],
    },
    "cron_long": {
        "0 */6 * * *": ["otherapp.tasks.rebuild_index"],
    },
    "weekly": ["otherapp.tasks.does_not_exist", "nowhere.module.function", "bench_jobs.bench.config.write_atomic"],
    "fortnightly": ["otherapp.tasks.nightly_report"],
}
