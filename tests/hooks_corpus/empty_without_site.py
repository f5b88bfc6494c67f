import frappe


def get_scheduler_events():
    if not frappe.local.site:  # only inside a site: outside one this hides the events
        return {}
    return {"daily": ["corpusapp.tasks.cleanup"]}


scheduler_events = get_scheduler_events()
