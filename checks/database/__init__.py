"""database.integrity: SQLite, PostgreSQL and MariaDB/MySQL integrity, read-only.

``check.py`` dispatches on the URL to one engine module (``sqlite.py``,
``postgres.py``, ``mysql.py``); what the engines share is in ``common.py``.
"""
