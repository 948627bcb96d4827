"""Export: the portable SavedModel writer (`saved_model`) and the limits an export records and
checks (`limits`)."""
