"""The HTML pages ``grade-all`` writes, as jinja2 templates: ``report.html`` (the class
report) and ``similarity.html`` (the similarity screen). Static pages: no script, no
server, nothing fetched from the network; images are files beside the page."""

from __future__ import annotations


def render(name: str, **context) -> str:
    """Render the template ``name`` of this folder, HTML-escaping every value."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lenet_course.grading.classroom", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name).render(**context)
