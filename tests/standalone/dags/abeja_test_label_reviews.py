"""Test-side producer of the retraining example's Asset: refreshes the labelled reviews.

Writes the sample's labelled texts plus new ones (a word the sample never saw, labelled
positive) to the file ``ABEJA_EXAMPLE_LABELLED_REVIEWS`` names; its task's outlet marks the
Asset updated, which is what starts a run of ``abeja_scheduled_retraining``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset, task

from abeja_emulator.sample import SAMPLE_HANDLER_DIR

PATH = os.environ["ABEJA_EXAMPLE_LABELLED_REVIEWS"]
SAMPLE_DATA = Path(SAMPLE_HANDLER_DIR) / "training_data.jsonl"
NEW_WORD = "airflowtastic"

with DAG(
    dag_id="abeja_test_label_reviews",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
):
    # [START howto_asset_producer]
    @task(outlets=[Asset(f"file://{PATH}")])  # the retraining example's LABELLED_REVIEWS
    def write_labelled_reviews() -> int:
        rows = SAMPLE_DATA.read_text(encoding="utf-8").splitlines()
        rows += [
            json.dumps({"text": f"{NEW_WORD} {extra}", "label": "positive"}) for extra in ("app", "tool")
        ]
        Path(PATH).write_text("\n".join(rows) + "\n", encoding="utf-8")
        return len(rows)

    # [END howto_asset_producer]

    write_labelled_reviews()
