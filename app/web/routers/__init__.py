"""One `APIRouter` per module; `app.web.app.ROUTERS` lists the ones the app mounts."""
