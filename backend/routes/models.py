"""``GET /v1/models``: the OpenAI model list, with the one model served here."""

from __future__ import annotations

from fastapi import APIRouter

from backend.deps import ApiKeyDep, ServicesDep
from backend.schemas import ModelCard, ModelList

router = APIRouter()


@router.get("/v1/models", response_model=ModelList, summary="The model served")
async def list_models(services: ServicesDep, _auth: ApiKeyDep) -> ModelList:
    return ModelList(
        data=[ModelCard(id=services.settings.served_model_name, created=services.started_at)]
    )
