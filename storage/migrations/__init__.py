"""Alembic migrations, shipped inside the package (an installed wheel has no alembic.ini).

`HEAD` names the newest revision so that a server can see the schema is current with one query
and without importing Alembic; a test keeps it equal to the scripts' head.
"""

HEAD = "0008_change_triggers"
