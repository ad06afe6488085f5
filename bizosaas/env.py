"""The one place that reads the environment. Every variable is listed with its default in `.env.example`."""

from __future__ import annotations

from pathlib import Path

import environ

from bizosaas.infra import Infra

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def embedded() -> Infra:
    return Infra.from_env()


def database_url() -> str:
    return env.str("DATABASE_URL", default="") or embedded().database_url()


def redis_url() -> str:
    return env.str("REDIS_URL", default="") or embedded().redis_url()


def temporal_address() -> str:
    return env.str("TEMPORAL_ADDRESS", default="") or embedded().temporal_address()
