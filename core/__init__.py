"""What every Xietong service shares: config, clock, errors, stores, identity, presence."""
