import frappe
from frappe.utils import cint


def get_scheduler_events():
    events = {"daily_long": ["corpusapp.tasks.rebuild"]}
    if frappe.db:  # connected when Frappe syncs scheduled jobs (bench migrate)
        events["hourly"] = ["corpusapp.tasks.sync"]
    if cint(frappe.conf.get("corpus_reports", 1)):
        events["cron"] = {"0 6 * * 1-5": ["corpusapp.tasks.report"]}
    return events


scheduler_events = get_scheduler_events()
