app_name = "corpusapp"

scheduler_events = dict(globals().get("scheduler_events", {}))
scheduler_events.setdefault("daily", []).append("corpusapp.tasks.cleanup")
scheduler_events["monthly"] = ["corpusapp.tasks.report"]
