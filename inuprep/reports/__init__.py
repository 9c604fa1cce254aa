"""Figures and HTML pages: the group summary and the per-subject reports, rendered from ``templates/``."""

from functools import cache


@cache
def _environment():
    from jinja2 import Environment, PackageLoader

    return Environment(
        loader=PackageLoader("inuprep.reports", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context) -> str:
    """Return ``templates/<template>`` rendered from ``context`` (every value escaped unless Markup)."""
    return _environment().get_template(template).render(**context)
