"""``recsmith app``: a web app to look at recommendations and why they were made.

A layer beside :mod:`recsmith.serving` and :mod:`recsmith.pipelines`: it reads run directories
through :mod:`recsmith.runs.layout` and bundles through :mod:`recsmith.serving.bundle`, ranks
with the service's :class:`~recsmith.serving.engine.Engine` (so the app shows what the API answers),
and draws the page with Gradio.

* :mod:`.source` -- what the app looks at: the catalogue, users, one engine per model;
* :mod:`.views` -- the page's content as plain tables and text, no Gradio (tested directly);
* :mod:`.ui` -- the Gradio page: events, progress, messages for bad input.
"""
