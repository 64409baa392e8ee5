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
        ("GET", "/v1/places"),
        ("GET", "/v1/profiles"),
        ("GET", "/v1/profiles/{name}"),
        ("PUT", "/v1/profiles/{name}"),
        ("POST", "/v1/places"),
        ("DELETE", "/v1/places/{place_id}"),
        ("GET", "/v1/vehicles/{vehicle_id}/stops"),
        ("GET", "/v1/shipments/{tracking_number}/live"),
        ("GET", "/v1/track/{token}/live"),
        ("GET", "/v1/exceptions/live"),
        ("POST", "/v1/shipments/{tracking_number}/access-token"),
        ("DELETE", "/v1/shipments/{tracking_number}/access-token"),
        ("POST", "/v1/checkpoints"),
        ("GET", "/v1/shipments/{tracking_number}/checkpoints"),
        ("POST", "/v1/shipments/{tracking_number}/legs"),
        ("POST", "/v1/webhooks/{integrator}/checkpoints"),
        ("GET", "/v1/shipments/{tracking_number}/legs"),
        ("GET", "/v1/track/{token}"),
        ("GET", "/v1/track/{token}/subscriptions"),
        ("PUT", "/v1/track/{token}/subscriptions/{medium}"),
        ("DELETE", "/v1/track/{token}/subscriptions/{medium}"),
        ("POST", "/v1/auth/token"),
        ("GET", "/v1/auth/me"),
        ("GET", "/v1/users"),
        ("POST", "/v1/users"),
        ("PATCH", "/v1/users/{name}"),
        ("POST", "/v1/gateways/{gateway_id}/credentials"),
        ("GET", "/v1/gateways/{gateway_id}/credentials"),
        ("DELETE", "/v1/gateways/{gateway_id}/credentials"),
        ("DELETE", "/v1/gateways/{gateway_id}/credentials/{username}"),
        ("POST", "/v1/gateways/{gateway_id}/commands"),
        ("GET", "/v1/gateways/{gateway_id}/commands"),
        ("GET", "/v1/gateways/{gateway_id}/commands/{command_id}"),
        ("GET", "/v1/gateways/{gateway_id}/audit"),
        ("GET", "/v1/vehicles"),
        ("GET", "/v1/shipments/{tracking_number}"),
        ("GET", "/v1/devices"),
        ("PUT", "/v1/devices/{device_id}/binding"),
        ("DELETE", "/v1/devices/{device_id}/binding"),
        ("GET", "/v1/gateways"),
        ("GET", "/v1/dead-letters"),
        ("GET", "/v1/shipments/{tracking_number}/report.pdf"),
        ("GET", "/v1/shipments/{tracking_number}/report.csv"),
        ("GET", "/v1/kpis"),
        ("GET", "/v1/track/{token}/rating"),
        ("PUT", "/v1/track/{token}/rating"),
        ("POST", "/v1/shipments/{tracking_number}/contacts"),
    }
    # Server-sent event streams answer text/event-stream; a revocation 204 without a body.
    streams = {path for method, path in operations if path.endswith("/live")}
    no_content = {
        ("DELETE", "/v1/shipments/{tracking_number}/access-token"),
        ("DELETE", "/v1/devices/{device_id}/binding"),
    }
    # Reports are files, for the quality team only.
    files = {
        "/v1/shipments/{tracking_number}/report.pdf": "application/pdf",
        "/v1/shipments/{tracking_number}/report.csv": "text/csv; charset=utf-8",
    }
    ops_only = {
        "/v1/shipments/{tracking_number}/access-token",
        "/v1/shipments/{tracking_number}/checkpoints",
        "/v1/shipments/{tracking_number}/contacts",
        "/v1/shipments/{tracking_number}/legs",
        *files,
    }
    # These change a resource: 200, not 201.
    updates = {
        ("POST", "/v1/auth/token"),
        ("POST", "/v1/custody/{parcel_id}/end"),
        ("POST", "/v1/shipments/{tracking_number}/access-token"),
    } | {
        ("POST", f"/v1/exceptions/{{exception_id}}/{action}")
        for action in ("acknowledge", "investigate", "resolve", "assign")
    }
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for (method, path), op in operations.items():
        assert op.get("summary"), (method, path)
        creates = method == "POST" and (method, path) not in updates
        if path in streams:
            assert "text/event-stream" in op["responses"]["200"]["content"], (method, path)
        elif (method, path) in no_content:
            assert "content" not in op["responses"]["204"], (method, path)
        elif path in files:
            assert files[path] in op["responses"]["200"]["content"], (method, path)
        else:
            success = op["responses"]["201" if creates else "200"]
            assert "$ref" in success["content"]["application/json"]["schema"], (method, path)
        if path.startswith("/v1/track/"):  # the token is in the path: no security scheme
            assert "security" not in op
            assert op["responses"]["404"]["content"]["application/json"]["schema"] == error_body
            continue
        if path == "/health":
            assert "security" not in op
            continue
        if path.startswith("/v1/webhooks/"):  # signed by the integrator's HMAC secret instead
            assert "security" not in op
            assert op["responses"]["401"]["content"]["application/json"]["schema"] == error_body
            continue
        if path == "/v1/auth/token":  # the password login itself: a form, no scheme
            assert "security" not in op
            assert "application/x-www-form-urlencoded" in op["requestBody"]["content"]
            assert op["responses"]["401"]["content"]["application/json"]["schema"] == error_body
            continue
        assert op["responses"]["422"]["content"]["application/json"]["schema"] == error_body
        if method == "POST":  # every change needs a role above viewer
            assert op["responses"]["403"]["content"]["application/json"]["schema"] == error_body
        if path.startswith("/v1/shipments/{tracking_number}/") and path not in ops_only:
            assert op["security"] == [
                {"OpsToken": []},
                {"OpsPassword": []},
                {"TrackingTokenQuery": []},
                {"TrackingTokenHeader": []},
            ]
        else:
            assert op["security"] == [{"OpsToken": []}, {"OpsPassword": []}], (method, path)
