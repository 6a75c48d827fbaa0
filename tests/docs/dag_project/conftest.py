# [START dag_testing_conftest]
# conftest.py: first thing, so that Airflow gets a private home before anything imports it.
pytest_plugins = ["airflow_provider_abeja.testing"]
# [END dag_testing_conftest]
