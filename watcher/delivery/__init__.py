"""The delivery wing: from the alerts outbox to the monitors' chats.

- outbox.py: delivers pending alerts exactly once (claimed before sending, marked after),
  groups bursts, backs off, and recovers sends interrupted by a crash.
- render.py: an item and its matches as an alert message (HTML for Telegram, plain text).
- health.py: health warnings about sources and stuck delivery for the admin chat.
- notifiers/: one small `send` per destination kind (console, Telegram, email), raising on
  failure; `configured_notifiers` picks them from the environment.

May import the core and `watcher.store`; never bot, digest or cli.
"""
