"""Server-rendered pages that are not part of a larger feature: the home page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.web.templating import render

# HTML for people; the JSON API under /api is what /docs documents.
router = APIRouter(tags=["pages"], include_in_schema=False)

#: The kube-proxy modes the home page introduces, in the order Kubernetes documents them.
MODES = ("iptables", "ipvs", "nftables", "userspace")
TERMS = ("hook", "table", "chain", "dnat", "masquerade")


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """What the app is and who it is for, in the negotiated language."""
    return render(request, "pages/home.html", modes=MODES, terms=TERMS)
