"""The JSON API under ``/api/v1``: one blueprint per area, an OpenAPI document built from them."""
