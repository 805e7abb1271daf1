"""``GET /v1/models`` and ``GET /v1/models/{id}``: the one model served here, OpenAI-style."""

from __future__ import annotations

from fastapi import APIRouter

from backend.deps import ApiKeyDep, Services, ServicesDep
from backend.errors import NotFound
from backend.schemas import ModelCard, ModelList

router = APIRouter()


def _card(services: Services) -> ModelCard:
    return ModelCard(id=services.settings.served_model_name, created=services.started_at)


@router.get("/v1/models", response_model=ModelList, summary="The model served")
async def list_models(services: ServicesDep, _auth: ApiKeyDep) -> ModelList:
    return ModelList(data=[_card(services)])


@router.get("/v1/models/{model_id:path}", response_model=ModelCard, summary="One model")
async def get_model(model_id: str, services: ServicesDep, _auth: ApiKeyDep) -> ModelCard:
    settings = services.settings
    if model_id not in {settings.served_model_name, settings.model}:
        raise NotFound(
            f"model: {model_id!r} is not served here; this service serves "
            f"{settings.served_model_name!r}",
            param="model",
            code="model_not_found",
        )
    return _card(services)
