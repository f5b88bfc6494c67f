from frappe import _

app_name = "corpusapp"
app_title = "Corpus ERP"
app_publisher = "Corpus"
required_apps = ["frappe"]

doc_events = {"*": {"on_update": "corpusapp.tasks.cleanup"}}

standard_queries = {"Customer": "corpusapp.tasks.report"}

scheduler_events = {
    "cron": {
        "0/15 * * * *": ["corpusapp.tasks.poll", "corpusapp.tasks.sync"],
        "0/30 * * * *": ["corpusapp.tasks.every_tick"],
        "45 0 * * *": ["corpusapp.tasks.report"],
    },
    "hourly": ["corpusapp.tasks.sync"],
    "hourly_long": ["corpusapp.tasks.rebuild"],
    "daily": ["corpusapp.tasks.cleanup"],
    "daily_long": ["corpusapp.tasks.rebuild"],
    "weekly": ["corpusapp.tasks.report"],
    "monthly_long": ["corpusapp.tasks.rebuild"],
}

default_mail_footer = _("Sent via Corpus ERP")
