"""Finding suspected duplicates (SPEC 4): the pure core of rules, features, scores and grouping
(`rules`), evidence and when it is new (`evidence`), the set-based SQL of full and incremental
detection (`detect`), and full runs with progress (`runs`)."""
