"""The docs' tests. ``dag_project/`` is a user's project, run by its own pytest (test_dag_testing_guide)."""

collect_ignore = ["dag_project"]
