"""The catalogue's Kubernetes limits agree with each other: the upload size setting, the /tmp
emptyDir that spools uploads, and the memory limit against the ingest's memory budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.catalogue.settings import CatalogueSettings

MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "base" / "catalogue.yaml"
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
INGEST_BUDGET_MB = 300  # the ingest's measured peak stays under this (docs/catalogue.md)


def quantity(text: str) -> int:
    for suffix, factor in UNITS.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def deployment() -> dict[str, Any]:
    documents = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return next(d for d in documents if d["kind"] == "Deployment")


def test_tmp_holds_two_copies_of_the_largest_upload_and_memory_fits_the_budget() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "catalogue")
    env = {e["name"]: e.get("value") for e in container["env"]}
    upload_max = int(
        env.get("KONSORTIO_CATALOGUE_UPLOAD_MAX_BYTES")
        or CatalogueSettings.model_fields["catalogue_upload_max_bytes"].default
    )
    tmp_mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    tmp = next(v for v in pod["volumes"] if v["name"] == tmp_mount["name"])["emptyDir"]
    memory_limit = quantity(container["resources"]["limits"]["memory"])

    # A multipart upload sits in /tmp twice while it is spooled (form part, then spool file).
    assert quantity(tmp["sizeLimit"]) >= 2 * upload_max + 64 * 2**20
    # A memory-backed emptyDir would count the spooled files against the memory limit.
    assert tmp.get("medium") != "Memory"
    assert memory_limit >= INGEST_BUDGET_MB * 2**20 + 128 * 2**20
    assert quantity(container["resources"]["requests"]["memory"]) <= memory_limit
