"""Operations on top of the wire core: recovery of unknown outcomes, reconciliation, the
settlement sheet and the code tables."""
