import frappe

scheduler_events = frappe.get_hooks_from_somewhere_else()
raise RuntimeError("this app only loads inside a configured site")
