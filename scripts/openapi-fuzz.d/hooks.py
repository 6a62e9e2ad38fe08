"""Lets schemathesis send plugin uploads (`application/wasm`) as raw bytes, as it sends octet streams."""

import schemathesis

schemathesis.serializer.alias("application/wasm", "application/octet-stream")
