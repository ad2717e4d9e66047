"""One APIRouter per resource; :func:`recsmith.serving.app.create_app` includes them all."""
