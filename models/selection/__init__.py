"""Settings chosen on validation data inside ``fit``, never on a test split.

A model's ``fit`` gets only training sessions. :mod:`~models.selection.validation` cuts the declared
validation slice from their end (the newest sessions, as in production, where tomorrow's traffic is
what the settings must serve), :mod:`~models.selection.search` runs a budgeted successive-halving
search over a discrete space, and :class:`~models.selection.selected.Selected` wraps any registered
model so that its ``fit`` selects, then refits the winner on every training session.
"""

from models.selection.search import Budget, Selection, successive_halving
from models.selection.selected import Selected
from models.selection.validation import RULE, ValidationSlice, validation_slice

__all__ = ["Budget", "RULE", "Selected", "Selection", "ValidationSlice", "successive_halving",
           "validation_slice"]
