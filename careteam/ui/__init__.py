"""Server-rendered HTML pages: the routes (``pages``) and the Jinja2 setup (``templating``)."""
