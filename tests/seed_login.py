"""The mock's seed login and the contract's fee-row cap: one place for every test to read them.

The credentials are the first user of the mock's own default seed (adapter/mock/seed.py), so a
change there reaches every test; the cap is the registry's (spec.yaml limits).
"""

from __future__ import annotations

from adapter.mock.seed import default_seed
from generated.registry import SPEC

_FIRST, _SECOND = default_seed().users[:2]
USERID, PASSWORD, AKB020 = _FIRST.userid, _FIRST.password, _FIRST.akb020
OTHER_USERID, OTHER_PASSWORD, OTHER_AKB020 = _SECOND.userid, _SECOND.password, _SECOND.akb020  # another institution
FEE_ROWS_PER_CALL = SPEC.fee_rows_per_call
