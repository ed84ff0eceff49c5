"""The OpenAPI contract, loaded once: the only place enums, defaults and limits live."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

CONTRACT_FILE = "openapi.yaml"


@dataclass(frozen=True)
class ModelOperation:
    """What the contract says about one model endpoint (`POST /v1/<slug>`)."""

    slug: str
    path: str
    request_schema: dict[str, Any]
    pricing_per_second: dict[str, float]
    output: dict[str, Any]
    run_time_s: float

    @property
    def properties(self) -> dict[str, Any]:
        properties: dict[str, Any] = self.request_schema["properties"]
        return properties

    def defaults(self) -> dict[str, Any]:
        return {
            name: copy.deepcopy(spec["default"])
            for name, spec in self.properties.items()
            if "default" in spec
        }

    def enum(self, name: str) -> list[Any]:
        return list(self.properties[name]["enum"])

    def media_rules(self, name: str) -> dict[str, Any]:
        return dict(self.properties[name]["x-media"])

    def tier_size(self, resolution: str) -> tuple[int, int]:
        tier = self.output["tiers"][resolution]
        return int(tier["width"]), int(tier["height"])


@dataclass(frozen=True)
class Contract:
    document: dict[str, Any]

    @property
    def plans(self) -> dict[str, int]:
        return dict(self.document.get("x-plans", {}).get("requests_per_minute", {}))

    def models(self) -> dict[str, ModelOperation]:
        """Every `POST` operation that names a model slug, keyed by slug."""
        return self._models

    @cached_property
    def _models(self) -> dict[str, ModelOperation]:
        # Resolved once per contract: the client asks for it on every call.
        found: dict[str, ModelOperation] = {}
        for path, item in self.document["paths"].items():
            operation = item.get("post")
            if not operation or "x-model-slug" not in operation:
                continue
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            found[operation["x-model-slug"]] = ModelOperation(
                slug=operation["x-model-slug"],
                path=path,
                request_schema=self.resolve(schema),
                pricing_per_second={
                    k: float(v) for k, v in operation["x-pricing"]["per_second"].items()
                },
                output=operation["x-output"],
                run_time_s=float(operation["x-run-time-s"]),
            )
        return found

    def request_schema(self, path: str, method: str) -> dict[str, Any]:
        """The JSON body schema of one operation, `$ref`s inlined."""
        operation = self.document["paths"][path][method.lower()]
        schema: dict[str, Any] = self.resolve(
            operation["requestBody"]["content"]["application/json"]["schema"]
        )
        return schema

    def resolve(self, node: Any) -> Any:
        """Inline local `$ref`s so a plain JSON Schema validator can use the node."""
        if isinstance(node, dict):
            if "$ref" in node:
                return self.resolve(self._lookup(node["$ref"]))
            return {key: self.resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        return node

    def _lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, got {ref!r}")
        node: Any = self.document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node


def contract_path() -> Path:
    """The contract shipped inside the package (a link to the repository's root file)."""
    return Path(str(resources.files("wan26.contracts.core").joinpath(CONTRACT_FILE)))


def load_contract(path: Path | None = None) -> Contract:
    with open(path or contract_path(), encoding="utf-8") as handle:
        return Contract(yaml.safe_load(handle))


@cache
def default_contract() -> Contract:
    return load_contract()
