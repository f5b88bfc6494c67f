import frappe

scheduler_events = {"daily": ["corpusapp.tasks.cleanup"]}

# outside a site (no Frappe context) conf is empty: the else branch is what Frappe itself runs at import
if frappe.conf.get("corpus_fast_sync"):
    scheduler_events["all"] = ["corpusapp.tasks.sync"]
else:
    scheduler_events["hourly"] = ["corpusapp.tasks.sync"]

try:
    from corpusapp.optional import extra_events  # not there: the except branch runs
except ImportError:
    scheduler_events["weekly"] = ["corpusapp.tasks.report"]
