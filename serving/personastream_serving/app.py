"""The personalization API (ASGI, FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``)
and the storefront demo it serves.

Recommendations rank the catalogue with :func:`personastream_models.recommend.rank` from the
customer's live profile (updated by the ``live_activity`` job within a second of each event),
the items co-viewed with their recent items, trend boosts from the trends job and popularity;
unknown or anonymous customers get trending and popular items. Every answer says which ranking
version, trends detector version and profile produced it. The storefront sends its views and
clicks to NiFi's ingest endpoint, the pipeline's real front door.

Start it with ``personastream serve``.
"""

import collections
import hmac
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Callable

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from personastream_contracts.identity import user_key as identity
from personastream_models.recommend import RANKING_VERSION, rank
from personastream_serving.catalogue import catalogue as sample_catalogue
from personastream_serving.catalogue import display_name
from personastream_serving.store import LIVE_PROFILE_VERSION, CassandraStore, Store

STATIC = resources.files(__package__).joinpath("static")
MAX_K = 100
K = Annotated[int, Query(ge=1, le=MAX_K, description="how many items")]


class ItemOut(BaseModel):
    item_id: str
    name: str
    category: str
    brand: str
    price: float
    score: float | None = None
    parts: dict[str, float] | None = None


class Provenance(BaseModel):
    ranking_version: str
    trends_detector_version: str | None
    profile: str  # "live" (the customer's live profile) or "none" (anonymous ranking)
    profile_updated_at: str | None = None
    profile_events: int | None = None  # events folded into the live profile used
    profile_version: int | None = None  # layout version of the live profile used


class ItemsOut(BaseModel):
    items: list[ItemOut]
    provenance: Provenance


class Recommendations(ItemsOut):
    user_key: str | None


class ProfileOut(BaseModel):
    user_key: str
    live: dict | None
    windowed: dict | None


class Erased(BaseModel):
    user_key: str
    tables_with_rows: list[str]
    remaining: list[str]


def create_app(settings, open_store: Callable[[], Store] | None = None) -> FastAPI:
    """The API bound to ``settings``; its store is opened at startup by ``open_store``
    (default: :class:`~personastream_serving.store.CassandraStore` of the settings)."""
    items = {i.item_id: i for i in sample_catalogue(settings.storefront_items)}
    state: dict = {}
    open_store = open_store or (lambda: CassandraStore(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state["store"] = open_store()
        yield
        state.pop("store").close()

    app = FastAPI(title="personastream personalization API", version=RANKING_VERSION,
                  lifespan=lifespan,
                  description="Recommendations from live customer profiles, item co-views and "
                              "trend spikes, computed by the streaming pipeline.")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
                    for e in error.errors()]
        return JSONResponse(status_code=400, content={"error": "bad parameters",
                                                      "detail": problems})

    def store() -> Store:
        return state["store"]

    def out(item_id: str, score=None, parts=None) -> ItemOut:
        i = items[item_id]
        return ItemOut(item_id=i.item_id, name=display_name(i),
                       category=i.category, brand=i.brand, price=i.price,
                       score=score, parts=parts)

    def provenance(db: Store, profile_source: str, updated=None, version=None,
                   events=None) -> Provenance:
        versions = collections.Counter(t.model_version for t in db.trends().values()
                                       if t.model_version)
        return Provenance(ranking_version=RANKING_VERSION,
                          trends_detector_version=versions.most_common(1)[0][0] if versions
                          else None, profile=profile_source,
                          profile_updated_at=updated.isoformat() + "Z" if updated else None,
                          profile_events=events, profile_version=version)

    def known_item(item_id: str) -> str:
        if item_id not in items:
            raise HTTPException(404, f"no item {item_id!r} in the catalogue "
                                     f"(item-0 .. item-{len(items) - 1})")
        return item_id

    def trend_boosts(db: Store) -> dict[str, float]:
        return {i: (1.0 if t.flagged else t.score) for i, t in db.trends().items()
                if i in items}

    @app.get("/v1/recommendations", response_model=Recommendations, tags=["recommendations"])
    def recommendations(
            db: Annotated[Store, Depends(store)], k: K = 10,
            user: Annotated[str | None, Query(min_length=1, description="user id")] = None,
            anonymous_id: Annotated[str | None, Query(min_length=1)] = None,
            context_item: Annotated[str | None, Query(description="item on screen")] = None,
            category: Annotated[str | None, Query(description="only this category")] = None,
            exclude_purchased: bool = True):
        """The ``k`` best items for a customer (by user id or anonymous id; neither: anonymous
        ranking), optionally in one category and near the item on screen."""
        key = identity(user, anonymous_id)
        if context_item is not None:
            known_item(context_item)
        profile, updated = db.live_profile(key) if key else (None, None)
        recent = profile.recent_items[:5] if profile else []
        neighbours = db.neighbours(recent + ([context_item] if context_item else []))
        ranked = rank(items, profile=profile, neighbours=neighbours,
                      popularity=db.popularity(), trend=trend_boosts(db), k=k,
                      context_item=context_item, category=category,
                      exclude=set(profile.purchased) if profile and exclude_purchased else set())
        return Recommendations(
            user_key=key, items=[out(r.item_id, round(r.score, 4), r.parts) for r in ranked],
            provenance=provenance(db, "live" if profile else "none", updated,
                                  LIVE_PROFILE_VERSION if profile else None,
                                  profile.n_events if profile else None))

    @app.get("/v1/items/{item_id}/similar", response_model=ItemsOut, tags=["items"])
    def similar(item_id: Annotated[str, Path()], db: Annotated[Store, Depends(store)], k: K = 10):
        """Items most often viewed together with ``item_id``, then popular ones."""
        known_item(item_id)
        ranked = rank(items, neighbours=db.neighbours([item_id]), context_item=item_id,
                      popularity=db.popularity(), k=k)
        return ItemsOut(items=[out(r.item_id, round(r.score, 4), r.parts) for r in ranked],
                        provenance=provenance(db, "none"))

    @app.get("/v1/trending", response_model=ItemsOut, tags=["items"])
    def trending(db: Annotated[Store, Depends(store)], k: K = 10):
        """Items whose views spike (flagged by the trends detector) first, then by score."""
        trends = sorted((t for t in db.trends().values() if t.item_id in items),
                        key=lambda t: (not t.flagged, -t.score, -t.views, t.item_id))[:k]
        return ItemsOut(items=[out(t.item_id, round(t.score, 4),
                                   {"views": float(t.views), "flagged": float(t.flagged)})
                               for t in trends], provenance=provenance(db, "none"))

    @app.get("/v1/users/{user_key}/profile", response_model=ProfileOut, tags=["users"])
    def profile(user_key: Annotated[str, Path(min_length=1)],
                db: Annotated[Store, Depends(store)]):
        """What the pipeline knows about a customer: live and windowed profiles."""
        live, updated = db.live_profile(user_key)
        windowed = db.profile(user_key)
        if live is None and windowed is None:
            raise HTTPException(404, f"no profile for {user_key!r}")
        return ProfileOut(user_key=user_key, windowed=windowed,
                          live=None if live is None else {**live.__dict__,
                                                          "updated_at": updated})

    def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
        if not settings.api_token:
            raise HTTPException(503, "write endpoints are disabled: set the api_token setting "
                                     "(PERSONASTREAM_API_TOKEN)")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), settings.api_token.encode()):
            raise HTTPException(401, "missing or wrong bearer token (Authorization: Bearer …)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.delete("/v1/users/{user_key}", response_model=Erased, tags=["users"],
                dependencies=[Depends(authorized)])
    def erase(user_key: Annotated[str, Path(min_length=1)], db: Annotated[Store, Depends(store)]):
        """Delete everything stored about a customer (privacy request): live and windowed
        profiles, segment, and their events in ``events_by_user``."""
        held = db.erase(user_key)
        return Erased(user_key=user_key, tables_with_rows=[t for t, h in held.items() if h],
                      remaining=db.holds(user_key))

    @app.get("/v1/catalogue", response_model=ItemsOut, tags=["items"])
    def catalogue(db: Annotated[Store, Depends(store)],
                  category: Annotated[str | None, Query()] = None):
        """The storefront's catalogue (seeded sample), optionally one category."""
        return ItemsOut(items=[out(i) for i, item in items.items()
                               if category is None or item.category == category],
                        provenance=provenance(db, "none"))

    @app.get("/storefront/config.json", include_in_schema=False)
    def storefront_config():
        return {"ingest_url": settings.nifi_ingest_url, "schema_version": "1-0-0"}

    @app.get("/", include_in_schema=False)
    def home():
        return FileResponse(str(STATIC.joinpath("index.html")))

    @app.get("/items/{item_id}", include_in_schema=False)
    def product_page(item_id: str):
        known_item(item_id)
        return FileResponse(str(STATIC.joinpath("product.html")))

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app
