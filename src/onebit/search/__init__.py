"""Architecture search: BATS, the differentiable search of binary cells (``onebit search bats``;
:func:`onebit.search.bats.search_bats` from Python). Importing this package imports no torch."""
