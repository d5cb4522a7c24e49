"""Suspected duplicates and their review: the candidate lifecycle (`lifecycle`), the pure
blocking reasons (SPEC 5, `blocking`) with the state they judge (`states`) and the codes the
queue filters on (`blocking_codes`), the queue's filters and selectors, and the picture of how a
group is linked (`links`)."""
