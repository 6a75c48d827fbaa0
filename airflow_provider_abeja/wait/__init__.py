"""Waiting for a service or a training job, in every mode: see ``engine`` first."""
