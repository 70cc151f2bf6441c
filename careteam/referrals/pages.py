"""Referrals' HTML pages."""

from __future__ import annotations

from fastapi import APIRouter

from careteam.web.forms import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
