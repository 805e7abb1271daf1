"""``GET /v1/models`` and ``GET /v1/models/{id}``: the one model served here, OpenAI-style."""

from __future__ import annotations

from fastapi import APIRouter

from backend.deps import Services, ServicesDep
from backend.openapi import MODEL_ERRORS
from backend.schemas import ModelCard, ModelList
from backend.validation import ensure_served

router = APIRouter()


def _card(services: Services) -> ModelCard:
    return ModelCard(id=services.settings.served_model_name, created=services.started_at)


@router.get("/v1/models", response_model=ModelList, summary="The model served")
async def list_models(services: ServicesDep) -> ModelList:
    return ModelList(data=[_card(services)])


@router.get(
    "/v1/models/{model_id:path}",
    response_model=ModelCard,
    summary="One model",
    responses=MODEL_ERRORS,
)
async def get_model(model_id: str, services: ServicesDep) -> ModelCard:
    ensure_served(model_id, services.settings)
    return _card(services)
