"""The rules wing: what monitors watch (people, incident types) and how their edits are written.

- model.py: the rules as validated data (`Person`, `IncidentType`, `Rules`), `load_rules` with
  file:line errors.
- routes.py: rules/routes.yaml, which destinations an incident goes to and how soon.
- holder.py: `RulesHolder`, the rules in force, reloaded when the files change, refusing a
  broken folder or one that would silently stop watching every (or most) people.
- editing.py: the edits monitors make from the bot or the CLI (watch, unwatch, keywords).
- writer.py: how an edit reaches disk safely (lock, validation of the whole folder, atomic
  replace, audit row).
- yamledit.py: line-level YAML surgery that keeps monitors' comments.

May import the core and `watcher.store` (for the audit table); never delivery, digest, bot, cli.
"""

from watcher.errors import EditRefused
from watcher.rules.editing import Edit, RulesEditor
from watcher.rules.holder import RulesHolder
from watcher.rules.routes import Facts, RouteTable, Target
from watcher.rules.model import INCIDENT_LABELS, INCIDENT_TYPES, IncidentType, Person, Rules, incident_label, load_rules

__all__ = ["INCIDENT_LABELS", "INCIDENT_TYPES", "incident_label", "Edit", "EditRefused", "IncidentType", "Person", "Rules", "RulesEditor",
           "RulesHolder", "load_rules", "Facts", "RouteTable", "Target"]
