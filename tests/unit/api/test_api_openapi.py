"""The OpenAPI contract: summaries, typed bodies, the error body and the security schemes."""

from __future__ import annotations

from pydantic import SecretStr

from api.app import create_app
from coldtrail.settings import ApiSettings, DatabaseSettings


def test_every_operation_is_documented_with_its_security_and_error_body() -> None:
    settings = ApiSettings(
        database=DatabaseSettings(url=SecretStr("postgresql://127.0.0.1:1/none")),
        ops_tokens=[SecretStr("t")],
    )
    spec = create_app(settings).openapi()  # building the app touches no database
    operations = {
        (method.upper(), path): op
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    }
    assert set(operations) == {
        ("GET", "/health"),
        ("POST", "/v1/vehicles"),
        ("POST", "/v1/shipments"),
        ("GET", "/v1/shipments"),
        ("POST", "/v1/custody"),
        ("POST", "/v1/custody/{parcel_id}/end"),
        ("GET", "/v1/shipments/{tracking_number}/timeline"),
        ("GET", "/v1/exceptions"),
        ("GET", "/v1/exceptions/{exception_id}"),
        ("GET", "/v1/exceptions/{exception_id}/audit"),
        ("POST", "/v1/exceptions/{exception_id}/acknowledge"),
        ("POST", "/v1/exceptions/{exception_id}/investigate"),
        ("POST", "/v1/exceptions/{exception_id}/resolve"),
        ("POST", "/v1/exceptions/{exception_id}/assign"),
        ("POST", "/v1/exceptions/{exception_id}/comments"),
        ("GET", "/v1/alerts"),
        ("GET", "/v1/shipments/{tracking_number}/alerts"),
    }
    # These change a resource: 200, not 201.
    updates = {("POST", "/v1/custody/{parcel_id}/end")} | {
        ("POST", f"/v1/exceptions/{{exception_id}}/{action}")
        for action in ("acknowledge", "investigate", "resolve", "assign")
    }
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for (method, path), op in operations.items():
        assert op.get("summary"), (method, path)
        creates = method == "POST" and (method, path) not in updates
        success = op["responses"]["201" if creates else "200"]
        assert "$ref" in success["content"]["application/json"]["schema"], (method, path)
        if path == "/health":
            assert "security" not in op
            continue
        assert op["responses"]["422"]["content"]["application/json"]["schema"] == error_body
        if method == "POST":  # every change needs a role above viewer
            assert op["responses"]["403"]["content"]["application/json"]["schema"] == error_body
        if path.startswith("/v1/shipments/{tracking_number}/"):
            assert op["security"] == [
                {"OpsToken": []},
                {"TrackingTokenQuery": []},
                {"TrackingTokenHeader": []},
            ]
        else:
            assert op["security"] == [{"OpsToken": []}], (method, path)
