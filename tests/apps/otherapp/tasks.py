"""Jobs of the second test app."""


def nightly_report() -> str:
    return "report"


def rebuild_index() -> str:
    return "rebuilt"
