"""Write the published JSON Schemas (`sentinel/data/*.schema.json`) from the pydantic models that produce the
payloads, so the contract cannot drift from the code: `.venv/bin/python tools/gen_schemas.py` after changing
`sentinel/alerts/schema.py:Alert` or `sentinel/cases/payload.py:CaseMessage`; tests/test_schemas.py fails
while the checked-in files differ from what the models give.

    tools/gen_schemas.py           rewrite the files
    tools/gen_schemas.py --check   exit 1 (naming the files) when one is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

from sentinel.alerts.schema import Alert  # noqa: E402
from sentinel.cases.payload import CaseMessage  # noqa: E402

DATA = REPO / "sentinel" / "data"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


class _PublishedSchema(GenerateJsonSchema):
    """Draft 2020-12, without the per-field titles pydantic derives from attribute names (noise to a reader
    of the contract; the model titles stay)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


@dataclass(frozen=True)
class SchemaFile:
    name: str  # file name under sentinel/data/
    model: type[BaseModel]
    schema_id: str

    def document(self) -> dict[str, Any]:
        body = self.model.model_json_schema(mode="serialization", schema_generator=_PublishedSchema)
        return {"$schema": DRAFT, "$id": self.schema_id, **body}

    def text(self) -> str:
        return json.dumps(self.document(), ensure_ascii=False, indent=2) + "\n"

    @property
    def path(self) -> Path:
        return DATA / self.name


SCHEMAS = (
    SchemaFile("alert.schema.json", Alert, "https://sentinel.invalid/schemas/sentinel.alert-1.json"),
    SchemaFile("case.schema.json", CaseMessage, "https://sentinel.invalid/schemas/sentinel.case-1.json"),
)


def out_of_date() -> list[SchemaFile]:
    return [s for s in SCHEMAS if not s.path.is_file() or s.path.read_text(encoding="utf-8") != s.text()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ from the models")
    args = parser.parse_args(argv)
    stale = out_of_date()
    if args.check:
        for schema in stale:
            print(f"{schema.path.relative_to(REPO)} differs from {schema.model.__name__}: run {__file__}")
        return 1 if stale else 0
    for schema in stale:
        schema.path.write_text(schema.text(), encoding="utf-8")
        print(f"wrote {schema.path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
