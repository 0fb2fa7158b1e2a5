"""`bench publish`: a static results site from the results database (overview, a page per case and per node,
the fleet heat map, comparisons), opened from file:// or any static server with nothing fetched from outside.

Every string that came from a report is untrusted: pages are Jinja2 templates with autoescape, JSON handed to
scripts is embedded with Jinja's ``tojson`` (``<``, ``>``, ``&`` and quotes as \\u escapes, so ``</script>``
cannot close it), and text given to Plotly (which reads a few HTML tags in labels) is HTML-escaped first.
"""
