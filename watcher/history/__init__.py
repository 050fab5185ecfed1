"""The history wing: rules tried on what watcher has already stored, and what feedback teaches.

- preview.py: what a new person or keyword would have matched and alerted lately (the bot's
  /watch and /keyword previews).
- rematch.py: today's rules applied again to stored items (`watcher rematch`), alerting what
  has newly become alert-worthy, once.
- backtest.py: proposed rules against stored items, before and after, per week, simulated on
  a throwaway in-memory store (`watcher rules backtest`).
- stats.py: monitors' verdicts per person and incident type, and the namesakes behind the
  "not relevant" ones (`watcher stats`, /stats).
- stored.py: the read-only queries these need.

Imports the core, matching/, rules/, store/ and incidents/; never delivery/, digest/, bot/,
cli/, evidence/ or the assembly modules.
"""

from watcher.history.backtest import Backtest, Change, Week, backtest
from watcher.history.preview import Preview, PreviewItem, preview_keyword, preview_person
from watcher.history.rematch import Rematched, RematchReport, rematch
from watcher.history.stats import RuleStats, Stats, feedback_stats

__all__ = ["Backtest", "Change", "Preview", "PreviewItem", "RematchReport", "Rematched", "RuleStats", "Stats", "Week",
           "backtest", "feedback_stats", "preview_keyword", "preview_person", "rematch"]
