"""Signups for texts: double opt-in on the consent ledger (issue 14, SPEC §8.3, §11 REC-1).

Public surface:
- `Signups`: take a signup (`create`), find the pending signup a YES confirms (`confirmed_by`),
  confirm it in the caller's transaction (`confirm`), cancel on a STOP (`cancel_for_opt_out`),
  read them (`get`, `list`).
- `SignupRequest`, `SignupView`, `SignupRefused`: what goes in and comes out.
"""

from app.signups.model import SignupRefused, SignupRequest, SignupView
from app.signups.service import Signups

__all__ = ["SignupRefused", "SignupRequest", "SignupView", "Signups"]
