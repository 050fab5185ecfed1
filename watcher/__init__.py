"""watcher: reads news feeds and court databases for monitors of transnational repression."""

__version__ = "0.1.0"
