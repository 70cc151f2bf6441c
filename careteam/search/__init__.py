"""Search: full-text search over the messages and tasks a clinician may read, with highlighted snippets.

No tables of its own: an index over messaging's and plans' rows (``fulltext.py``), read through their query
fragments behind the plans' permission filter.
"""
