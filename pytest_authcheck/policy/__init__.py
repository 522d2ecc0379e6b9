"""The policy: read (``text``), validated against the schema (``schema``), its references checked (``refs``), every
problem located at its file line (``lines``, ``problems``), resolved into a ``Policy`` (``load``) with the defaults
stated once (``defaults``); ``local_conftest`` loads the ``conftest.py`` kept beside it."""
