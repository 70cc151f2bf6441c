"""The JSON API under /api/v1: parse, call one domain function, shape the answer."""
